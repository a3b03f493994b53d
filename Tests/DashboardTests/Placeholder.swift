// Tests for Dashboard live in this folder.
