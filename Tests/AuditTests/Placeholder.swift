// Tests for Audit live in this folder.
