-- Lab fixture baked into v4-badmigration only: moves old visits to an archive table that no
-- migration creates, so it fails and is rolled back (001 and 002 stay applied).
-- backward-compatible: true
insert into visits_archive select * from visits where at < now() - interval '30 days';
delete from visits where at < now() - interval '30 days';
