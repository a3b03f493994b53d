// Tests for Sumo live in this folder.
