package wecom

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

// The sample values of WeCom's callback documentation and its official
// WXBizMsgCrypt sample code (C#, Java, PHP, Python): token, corp id,
// EncodingAESKey, a URL verification and a message callback with their
// signatures, computed by Tencent.
const (
	docToken  = "QDG6eK"
	docCorpID = "wx5823bf96d3bd56c7"
	docAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

	docVerifySig   = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
	docVerifyTS    = "1409659589"
	docVerifyNonce = "263014780"
	docVerifyEcho  = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
	docVerifyPlain = "1616140317555161061"

	docMsgSig     = "477715d11cdb4164915debcba66cb864d751f3e6"
	docMsgTS      = "1409659813"
	docMsgNonce   = "1372623149"
	docMsgEncrypt = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)

func docCrypt(t testing.TB) *msgCrypt {
	t.Helper()
	key, err := decodeAESKey(docAESKey)
	if err != nil {
		t.Fatal(err)
	}
	return &msgCrypt{token: docToken, key: key, receiver: docCorpID}
}

func TestOfficialURLVerification(t *testing.T) {
	c := docCrypt(t)
	if got := signature(docToken, docVerifyTS, docVerifyNonce, docVerifyEcho); got != docVerifySig {
		t.Fatalf("signature = %s, want %s", got, docVerifySig)
	}
	if err := c.verify(docVerifySig, docVerifyTS, docVerifyNonce, docVerifyEcho); err != nil {
		t.Fatal(err)
	}
	plain, err := c.decrypt(docVerifyEcho)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != docVerifyPlain {
		t.Errorf("echostr decrypts to %q, want %q", plain, docVerifyPlain)
	}
}

func TestOfficialMessage(t *testing.T) {
	c := docCrypt(t)
	if err := c.verify(docMsgSig, docMsgTS, docMsgNonce, docMsgEncrypt); err != nil {
		t.Fatal(err)
	}
	plain, err := c.decrypt(docMsgEncrypt)
	if err != nil {
		t.Fatal(err)
	}
	var m inbound
	if err := xml.Unmarshal(plain, &m); err != nil {
		t.Fatalf("decrypted message %q: %v", plain, err)
	}
	want := inbound{ToUserName: docCorpID, FromUserName: "mycreate", CreateTime: 1409659813, MsgType: "text", Content: "hello", MsgID: "4561255354251345929", AgentID: "218"}
	if m != want {
		t.Errorf("decrypted message %+v, want %+v", m, want)
	}
	other := *c
	other.receiver = "ww0000000000000000"
	if _, err := other.decrypt(docMsgEncrypt); !errors.Is(err, ErrWrongReceiver) {
		t.Errorf("another corp id: err %v, want ErrWrongReceiver", err)
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	c := docCrypt(t)
	for _, msg := range []string{"", "x", strings.Repeat("长", 100), strings.Repeat("a", 12), strings.Repeat("a", 44)} {
		enc, err := c.encrypt([]byte(msg), nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(enc)
		if len(raw)%blockSize != 0 {
			t.Errorf("%d-byte message: ciphertext of %d bytes is not padded to %d", len(msg), len(raw), blockSize)
		}
		got, err := c.decrypt(enc)
		if err != nil || string(got) != msg {
			t.Errorf("round trip of %q: %q, %v", msg, got, err)
		}
	}
}

// The official echostr re-encrypted with its own random prefix gives the
// official ciphertext back: the layout and padding match Tencent's.
func TestEncryptMatchesOfficial(t *testing.T) {
	c := docCrypt(t)
	raw, _ := base64.StdEncoding.DecodeString(docVerifyEcho)
	plain := make([]byte, len(raw))
	// Take the random prefix from the official plaintext.
	key := c.key
	blk, _ := aes.NewCipher(key)
	cipher.NewCBCDecrypter(blk, key[:16]).CryptBlocks(plain, raw)
	enc, err := c.encrypt([]byte(docVerifyPlain), plain[:16])
	if err != nil {
		t.Fatal(err)
	}
	if enc != docVerifyEcho {
		t.Errorf("encrypt = %s, want %s", enc, docVerifyEcho)
	}
}

func TestRefusals(t *testing.T) {
	c := docCrypt(t)
	if err := c.verify(docMsgSig, docMsgTS, docMsgNonce+"1", docMsgEncrypt); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed nonce: %v, want ErrBadSignature", err)
	}
	if err := c.verify(strings.ToUpper(docMsgSig), docMsgTS, docMsgNonce, docMsgEncrypt); err != nil {
		t.Errorf("upper-case hex signature refused: %v", err)
	}
	raw, _ := base64.StdEncoding.DecodeString(docMsgEncrypt)
	for name, enc := range map[string]string{
		"not base64":      "%%%",
		"empty":           "",
		"partial block":   base64.StdEncoding.EncodeToString(raw[:len(raw)-3]),
		"last block gone": base64.StdEncoding.EncodeToString(raw[:len(raw)-16]),
		"flipped bit":     base64.StdEncoding.EncodeToString(flip(raw, len(raw)-20)),
		"one block":       base64.StdEncoding.EncodeToString(raw[:16]),
	} {
		if _, err := c.decrypt(enc); err == nil {
			t.Errorf("%s: decrypted", name)
		} else if !errors.Is(err, ErrUndecryptable) && !errors.Is(err, ErrWrongReceiver) {
			t.Errorf("%s: %v, want ErrUndecryptable or ErrWrongReceiver", name, err)
		}
	}
	if _, err := decodeAESKey(docAESKey[:42]); !errors.Is(err, ErrBadAESKey) {
		t.Errorf("42-character key: %v", err)
	}
	if _, err := decodeAESKey(docAESKey[:42] + "*"); !errors.Is(err, ErrBadAESKey) {
		t.Errorf("non-base64 key: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 1
	return b
}

// FuzzDecrypt feeds arbitrary ciphertexts to decrypt: an error, never a
// panic; whatever decrypts re-encrypts to something that decrypts to it.
func FuzzDecrypt(f *testing.F) {
	f.Add(docMsgEncrypt)
	f.Add(docVerifyEcho)
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==")
	c := docCrypt(f)
	f.Fuzz(func(t *testing.T, enc string) {
		plain, err := c.decrypt(enc)
		if err != nil {
			return
		}
		again, err := c.encrypt(plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.decrypt(again); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("re-encrypted %q decrypts to %q, %v", plain, got, err)
		}
	})
}

// BenchmarkOpenCallback measures checking and decrypting one message
// callback (signature, AES-256-CBC, receiver check).
func BenchmarkOpenCallback(b *testing.B) {
	c := docCrypt(b)
	for b.Loop() {
		if err := c.verify(docMsgSig, docMsgTS, docMsgNonce, docMsgEncrypt); err != nil {
			b.Fatal(err)
		}
		if _, err := c.decrypt(docMsgEncrypt); err != nil {
			b.Fatal(err)
		}
	}
}
