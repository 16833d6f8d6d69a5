"""The named queries' SQL, one file each, in Athena's dialect; installed as ``parking.sql``."""
