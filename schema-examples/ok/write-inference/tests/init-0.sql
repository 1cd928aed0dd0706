-- The table of `LogLine`, which exo does not manage: no primary key.
CREATE TABLE log_lines (label TEXT NOT NULL, hush TEXT, remark TEXT, writer INT);
INSERT INTO log_lines VALUES ('a', 'hush-a', 'remark by Ada', 1), ('b', 'hush-b', 'remark by Bob', 2);
