// Transport: placeholder until the peer transport lands.
import RaftCore
