// Storage: placeholder until the SQLite store lands.
import RaftCore
