-- A simple (automatically updatable) view with a computed column and no primary key.
CREATE VIEW plant_labels AS SELECT tag, species, upper(species) AS shout FROM plants;
