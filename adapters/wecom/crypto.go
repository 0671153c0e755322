package wecom

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Errors of the callback protocol.
var (
	ErrBadSignature  = errors.New("wecom: bad msg_signature")
	ErrUndecryptable = errors.New("wecom: undecryptable message")
	ErrWrongReceiver = errors.New("wecom: message for another corp")
)

// blockSize is the PKCS#7 block size WeCom pads to (32, not AES's 16).
const blockSize = 32

// msgCrypt implements WeCom's callback encryption (WXBizMsgCrypt): a SHA-1
// signature over the sorted token, timestamp, nonce and ciphertext, and
// AES-256-CBC with the EncodingAESKey (its first 16 bytes as the IV) over
// random(16) ‖ length(4, big endian) ‖ message ‖ receiver id, padded with
// PKCS#7 to 32 bytes.
type msgCrypt struct {
	token    string
	key      []byte // 32 bytes
	receiver string // the corp id
}

// signature is the msg_signature of the four values.
func signature(token, timestamp, nonce, encrypted string) string {
	parts := []string{token, timestamp, nonce, encrypted}
	slices.Sort(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// verify checks msg_signature in constant time.
func (c *msgCrypt) verify(msgSignature, timestamp, nonce, encrypted string) error {
	want := signature(c.token, timestamp, nonce, encrypted)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(msgSignature)), []byte(want)) != 1 {
		return ErrBadSignature
	}
	return nil
}

// decrypt opens a base64 ciphertext and checks its receiver id.
func (c *msgCrypt) decrypt(encrypted string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %w", ErrUndecryptable, err)
	}
	if len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of AES blocks", ErrUndecryptable, len(raw))
	}
	block, err := aes.NewCipher(c.key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUndecryptable, err)
	}
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(block, c.key[:aes.BlockSize]).CryptBlocks(plain, raw)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > blockSize || pad > len(plain) {
		return nil, fmt.Errorf("%w: bad padding", ErrUndecryptable)
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: bad padding", ErrUndecryptable)
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, fmt.Errorf("%w: too short", ErrUndecryptable)
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, fmt.Errorf("%w: length %d beyond the message", ErrUndecryptable, n)
	}
	msg, receiver := plain[20:20+n], plain[20+n:]
	if subtle.ConstantTimeCompare(receiver, []byte(c.receiver)) != 1 {
		return nil, ErrWrongReceiver
	}
	return bytes.Clone(msg), nil
}

// encrypt seals msg as WeCom does, with 16 random bytes from random (nil:
// crypto/rand).
func (c *msgCrypt) encrypt(msg []byte, random []byte) (string, error) {
	if random == nil {
		random = make([]byte, 16)
		if _, err := rand.Read(random); err != nil {
			return "", err
		}
	}
	if len(random) != 16 {
		return "", fmt.Errorf("wecom: %d random bytes, want 16", len(random))
	}
	plain := make([]byte, 0, 20+len(msg)+len(c.receiver)+blockSize)
	plain = append(plain, random...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, c.receiver...)
	pad := blockSize - len(plain)%blockSize
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, err := aes.NewCipher(c.key)
	if err != nil {
		return "", err
	}
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, c.key[:aes.BlockSize]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out), nil
}
