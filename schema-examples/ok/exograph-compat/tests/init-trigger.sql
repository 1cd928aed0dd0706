-- The database computes `minutes` (four minutes a track), as a view, a trigger or a generated
-- column would for an Exograph model's @readonly field without a default.
CREATE FUNCTION record_minutes() RETURNS trigger AS $$
BEGIN
  NEW.minutes := NEW.tracks * 4;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER record_minutes BEFORE INSERT OR UPDATE ON records
  FOR EACH ROW EXECUTE FUNCTION record_minutes();
