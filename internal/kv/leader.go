package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// leaderTimeout bounds a leader read whose context has no deadline (nats.go's own
// default for JetStream API calls).
const leaderTimeout = 5 * time.Second

// kvOperationHeader marks a KV delete ("DEL") or purge ("PURGE") message; nats.go does not
// export the name.
const kvOperationHeader = "KV-Operation"

// leaderReader reads a key's last message through the JetStream API's STREAM.MSG.GET,
// which the stream leader answers (unlike the direct get of KV Get, which any replica
// may answer). On a single server both are the same store.
type leaderReader struct {
	nc      *nats.Conn
	subject string // the API subject of the request
	keyPre  string // "$KV.<bucket>."
}

func newLeaderReader(js jetstream.JetStream, bucket string) *leaderReader {
	return &leaderReader{
		nc:      js.Conn(),
		subject: apiPrefix(js.Options()) + "STREAM.MSG.GET.KV_" + bucket,
		keyPre:  "$KV." + bucket + ".",
	}
}

// apiPrefix is the JetStream API prefix the handle uses (jetstream keeps its own
// unexported; this recomputes it from the public options the same way).
func apiPrefix(o jetstream.JetStreamOptions) string {
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	}
	return jetstream.DefaultAPIPrefix
}

// Bounds of waiting for a stream leader that is not there yet: a bucket created a moment
// ago, or a leader election, answers "no responders" for a few hundred milliseconds.
const (
	leaderAttempts = 6
	leaderPause    = 50 * time.Millisecond
)

// request sends one STREAM.MSG.GET, asking again (bounded, within ctx) while nobody
// answers the API subject.
func (l *leaderReader) request(ctx context.Context, req []byte) (*nats.Msg, error) {
	for attempt := 1; ; attempt++ {
		msg, err := l.nc.RequestWithContext(ctx, l.subject, req)
		if !errors.Is(err, nats.ErrNoResponders) || attempt == leaderAttempts {
			return msg, err
		}
		t := time.NewTimer(leaderPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// lastMsg is a key's last message: a value (live) or a delete marker.
type lastMsg struct {
	rev   uint64
	value []byte
	live  bool
}

type msgGetRequest struct {
	LastFor string `json:"last_by_subj"`
}

type msgGetResponse struct {
	Error   *jetstream.APIError `json:"error,omitempty"`
	Message *struct {
		Sequence uint64 `json:"seq"`
		Header   []byte `json:"hdrs,omitempty"`
		Data     []byte `json:"data,omitempty"`
	} `json:"message,omitempty"`
}

// last returns key's last message, ErrNotFound when the key has none (never written or
// expired), ErrUnavailable when the leader did not answer.
func (l *leaderReader) last(ctx context.Context, key string) (lastMsg, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, leaderTimeout)
		defer cancel()
	}
	req, err := json.Marshal(msgGetRequest{LastFor: l.keyPre + key})
	if err != nil {
		return lastMsg{}, fmt.Errorf("kv: leader read: %w", err)
	}
	msg, err := l.request(ctx, req)
	if err != nil {
		return lastMsg{}, unavailable(err)
	}
	var resp msgGetResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return lastMsg{}, unavailable(fmt.Errorf("leader read: %w", err))
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return lastMsg{}, ErrNotFound
		}
		return lastMsg{}, unavailable(resp.Error)
	}
	if resp.Message == nil {
		return lastMsg{}, unavailable(fmt.Errorf("leader read: empty answer"))
	}
	m := lastMsg{rev: resp.Message.Sequence, value: resp.Message.Data, live: true}
	if len(resp.Message.Header) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Message.Header)
		if err != nil {
			return lastMsg{}, unavailable(fmt.Errorf("leader read: %w", err))
		}
		// A KV delete or purge, or a server marker (MaxAge, Remove): the key is gone.
		if op := h.Get(kvOperationHeader); op == "DEL" || op == "PURGE" || h.Get(jetstream.MarkerReasonHeader) != "" {
			m.live, m.value = false, nil
		}
	}
	return m, nil
}
