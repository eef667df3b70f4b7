package replay

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"slices"
)

// Labels that separate the uses of the retry key's bytes.
const (
	idLabel   = "nines replay record id v1\x00"
	sealLabel = "nines replay record seal v1"
)

// boundHeaders are the request headers the record ID covers besides the method, the
// target and the body: those that say who asks (client credentials, the browser's
// cookies) and how the body reads. Headers the edge sets per attempt are left out.
var boundHeaders = []string{"Authorization", "Cookie", "Content-Type"}

// recordID names a request's entry: the hex SHA-256 of a label, the 16 bytes of the
// retry key, the method, path and query, the headers in boundHeaders and the SHA-256 of
// the body, each length-prefixed. It reveals nothing about the key or the request, and
// another request (a different body, path or client) with the same key gets another ID.
func recordID(key []byte, r *http.Request, body []byte) string {
	h := sha256.New()
	h.Write([]byte(idLabel))
	h.Write(key)
	field(h, []byte(r.Method))
	field(h, []byte(r.URL.Path))
	field(h, []byte(r.URL.RawQuery))
	for _, name := range boundHeaders {
		vs := r.Header.Values(name)
		field(h, binary.BigEndian.AppendUint64(nil, uint64(len(vs))))
		for _, v := range vs {
			field(h, []byte(v))
		}
	}
	sum := sha256.Sum256(body)
	field(h, sum[:])
	return hex.EncodeToString(h.Sum(nil))
}

// field writes b to h after its length, so that no two sequences of fields hash alike.
func field(h hash.Hash, b []byte) {
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
	h.Write(b)
}

// Entry values: a version byte, a kind byte, then the kind's content.
const (
	recordVersion = 1
	kindPending   = 'P' // then markerNonceLen random bytes naming the attempt
	kindDone      = 'D' // then the GCM nonce and the sealed answer
)

// markerNonceLen is the length of a pending marker's attempt nonce: the marker is
// unique to its attempt, which removes or replaces only its own.
const markerNonceLen = 16

// sealOverhead is what sealing adds to an encoded answer.
const sealOverhead = 2 + 12 + 16 // version and kind, GCM nonce, GCM tag

// errOpen: a done record that does not open with the key (or is not one).
var errOpen = errors.New("replay: record does not open")

// newMarker returns a fresh pending marker.
func newMarker() []byte {
	m := make([]byte, 2+markerNonceLen)
	m[0], m[1] = recordVersion, kindPending
	_, _ = rand.Read(m[2:]) // crypto/rand.Read never fails (Go 1.24+)
	return m
}

// isDone reports whether v is a done record (of any content).
func isDone(v []byte) bool { return len(v) >= 2 && v[0] == recordVersion && v[1] == kindDone }

// isPending reports whether v is a pending marker.
func isPending(v []byte) bool {
	return len(v) == 2+markerNonceLen && v[0] == recordVersion && v[1] == kindPending
}

// aead is the AES-256-GCM of the records of one retry key.
func aead(key []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, key, nil, sealLabel, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal returns the done record of plaintext under id.
func seal(key []byte, id string, plaintext []byte) ([]byte, error) {
	a, err := aead(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 2+a.NonceSize(), sealOverhead+len(plaintext))
	out[0], out[1] = recordVersion, kindDone
	_, _ = rand.Read(out[2:])
	return a.Seal(out, out[2:], plaintext, []byte(id)), nil
}

// open returns the plaintext of the done record v under id, or errOpen.
func open(key []byte, id string, v []byte) ([]byte, error) {
	a, err := aead(key)
	if err != nil {
		return nil, err
	}
	if !isDone(v) || len(v) < 2+a.NonceSize()+a.Overhead() {
		return nil, errOpen
	}
	nonce, ct := v[2:2+a.NonceSize()], v[2+a.NonceSize():]
	pt, err := a.Open(nil, nonce, ct, []byte(id))
	if err != nil {
		return nil, errOpen
	}
	return pt, nil
}

// answer is a recorded response.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// encode lays a out as its status (2 bytes), its header (a count of names, each name
// with a count of values, every string length-prefixed) and its body (the rest).
func (a answer) encode() []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(a.status))
	names := make([]string, 0, len(a.header))
	for k := range a.header {
		names = append(names, k)
	}
	slices.Sort(names)
	out = binary.AppendUvarint(out, uint64(len(names)))
	for _, k := range names {
		out = appendString(out, k)
		out = binary.AppendUvarint(out, uint64(len(a.header[k])))
		for _, v := range a.header[k] {
			out = appendString(out, v)
		}
	}
	return append(out, a.body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeAnswer reverses encode; anything malformed is errOpen.
func decodeAnswer(b []byte) (answer, error) {
	if len(b) < 2 {
		return answer{}, errOpen
	}
	a := answer{status: int(binary.BigEndian.Uint16(b)), header: http.Header{}}
	d := decoder{b: b[2:]}
	n := d.count()
	for range n {
		k := d.str()
		m := d.count()
		for range m {
			a.header[k] = append(a.header[k], d.str())
		}
	}
	if d.bad || a.status < 100 || a.status > 999 {
		return answer{}, errOpen
	}
	a.body = d.b
	return a, nil
}

// decoder reads what encode wrote; a read past the end sets bad.
type decoder struct {
	b   []byte
	bad bool
}

// count reads a count that the remaining bytes could hold (each item takes one).
func (d *decoder) count() int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > uint64(len(d.b)-n) {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

// str reads a length-prefixed string.
func (d *decoder) str() string {
	l := d.count()
	if d.bad || l > len(d.b) {
		d.bad = true
		return ""
	}
	s := string(d.b[:l])
	d.b = d.b[l:]
	return s
}
