-- An entity's row (the descriptor, its filter fields, the search columns)
-- is typically a little over 2 kB, where PostgreSQL starts compressing a
-- row's largest values on every write: about a tenth of the cost of
-- inserting it, to save a few hundred bytes. Rows are now compressed or
-- moved out of line only above a full page; large descriptors still are.
ALTER TABLE entities SET (toast_tuple_target = 8160);
