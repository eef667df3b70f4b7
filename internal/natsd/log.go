package natsd

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// slogAdapter is the nats-server Logger writing to slog. The server logs connection and
// stream events, never payloads; its debug and trace output stays off (SetLoggerV2 flags).
// Its notices (a two-dozen-line banner at every start, then routine events) go to slog's
// debug level; warnings and errors keep theirs.
type slogAdapter struct {
	l *slog.Logger

	mu    sync.Mutex
	fatal string // the first Fatalf message: the server gave up starting
}

func (a *slogAdapter) log(level slog.Level, format string, v []any) {
	if !a.l.Enabled(context.Background(), level) {
		return
	}
	a.l.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

func (a *slogAdapter) Noticef(format string, v ...any) { a.log(slog.LevelDebug, format, v) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.log(slog.LevelWarn, format, v) }
func (a *slogAdapter) Errorf(format string, v ...any)  { a.log(slog.LevelError, format, v) }
func (a *slogAdapter) Debugf(format string, v ...any)  { a.log(slog.LevelDebug, format, v) }
func (a *slogAdapter) Tracef(format string, v ...any)  { a.log(slog.LevelDebug-4, format, v) }

// Fatalf logs at error level and remembers the message for Start to return. The
// server's own logger would exit the process here; an embedded server must not.
func (a *slogAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.l.Error(msg, "fatal", true)
	a.mu.Lock()
	if a.fatal == "" {
		a.fatal = msg
	}
	a.mu.Unlock()
}

func (a *slogAdapter) fatalMessage() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fatal
}
