package platform

// Conn is where an adapter reports its connection to the platform, for
// the dashboard's Adapters page and the chatloop_adapter_up metric: a
// running adapter that lost its connection and is retrying is not "up".
// The command implements it; adapters call it from any goroutine.
type Conn interface {
	// Up says the adapter is connected (logged in, listening) and takes
	// messages.
	Up()
	// Down says the adapter is not connected, err says why, and that it
	// is trying again.
	Down(err error)
}

// Connection is e.Conn, or one that reports nowhere when the command set
// none (tests, the terminal).
func (e Env) Connection() Conn {
	if e.Conn == nil {
		return NoConn{}
	}
	return e.Conn
}

// NoConn reports nowhere.
type NoConn struct{}

// Up does nothing.
func (NoConn) Up() {}

// Down does nothing.
func (NoConn) Down(error) {}
