-- A one-table schema for the shared health tests.
CREATE TABLE probe (id INT PRIMARY KEY);
