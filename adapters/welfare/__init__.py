"""Provincial social-welfare databases: port, file and REST sources, fake and simulator."""
