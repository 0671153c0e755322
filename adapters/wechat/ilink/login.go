package ilink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/chatloop/chatloop/internal/atomicfile"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mdp/qrterminal/v3"
	"github.com/skip2/go-qrcode"
)

// maxQRBackoff caps the pause after failed QR status polls.
const maxQRBackoff = 30 * time.Second

// errAlreadyBound is a login the server answered with "binded_redirect"
// while this client holds no token.
var errAlreadyBound = errors.New("the server says this bot is already bound to this client, but no token is stored")

// login logs in by QR code, retrying with a growing pause until it
// succeeds or ctx is done. prev is the last login, whose token (even a
// stale one) is offered to the server as the reference does.
func (a *Adapter) login(ctx context.Context, prev account) (account, error) {
	backoff := a.retryDelay
	for {
		acct, err := a.qrLogin(ctx, prev)
		if err == nil {
			return acct, nil
		}
		if ctx.Err() != nil {
			return account{}, ctx.Err()
		}
		a.log.Error("WeChat QR login failed; trying again", "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return account{}, ctx.Err()
		}
		backoff = min(2*backoff, a.maxLoginBackoff)
	}
}

// qrLogin shows a QR code and polls its state until the login is
// confirmed on the phone, showing a new code whenever one expires.
func (a *Adapter) qrLogin(ctx context.Context, prev account) (account, error) {
	var held []string
	if prev.Token != "" {
		held = []string{prev.Token}
	}
	qr, err := a.api.qrCode(ctx, a.cfg.BaseURL, held)
	if err != nil {
		return account{}, err
	}
	a.showQR(qr.QRCodeImgContent)
	pollBase := a.cfg.BaseURL
	verify := ""
	fails := 0
	scanned := false
	for {
		st, err := a.api.qrStatus(ctx, pollBase, qr.QRCode, verify)
		if err != nil {
			if ctx.Err() != nil {
				return account{}, ctx.Err()
			}
			// The reference reads network and gateway errors as "wait".
			fails++
			a.log.Debug("QR status poll failed; polling again", "err", err)
			if !sleep(ctx, min(a.qrPause<<min(fails, 10), maxQRBackoff)) {
				return account{}, ctx.Err()
			}
			continue
		}
		fails = 0
		switch st.Status {
		case qrScanned:
			verify = ""
			if !scanned {
				scanned = true
				a.log.Info("QR code scanned; confirm the login on the phone")
			}
		case qrNeedVerifyCode:
			code, err := a.readVerifyCode(ctx, verify != "")
			if err != nil {
				return account{}, err
			}
			verify = code
			continue
		case qrExpired, qrVerifyCodeBlocked:
			if st.Status == qrExpired {
				a.log.Info("the QR code expired before the login was confirmed; here is a new one")
			} else {
				a.log.Warn("too many wrong numbers were typed; here is a new QR code")
			}
			if qr, err = a.api.qrCode(ctx, a.cfg.BaseURL, held); err != nil {
				return account{}, err
			}
			a.showQR(qr.QRCodeImgContent)
			verify, scanned = "", false
		case qrRedirect:
			if next, ok := redirectBase(pollBase, st.RedirectHost); ok {
				pollBase = next
				a.log.Info("the login continues at another data centre", "host", st.RedirectHost)
			}
		case qrAlreadyBound:
			a.removeQR()
			if prev.Token == "" {
				return account{}, errAlreadyBound
			}
			a.log.Info("WeChat says this bot is already bound to chatloop; keeping the stored login")
			return prev, nil
		case qrConfirmed:
			a.removeQR()
			if st.ILinkBotID == "" || strings.TrimSpace(st.BotToken) == "" {
				return account{}, errors.New("the confirmed login has no bot id or token")
			}
			acct := account{Token: strings.TrimSpace(st.BotToken), BotID: st.ILinkBotID, UserID: st.ILinkUserID, BaseURL: a.cfg.BaseURL}
			a.redact(acct.Token)
			if st.BaseURL != "" {
				if err := checkBaseURL(st.BaseURL); err == nil {
					acct.BaseURL = st.BaseURL
				} else {
					a.log.Warn("the login named an unusable base URL; keeping ilink_base_url", "err", err)
				}
			}
			a.log.Info("WeChat QR login confirmed", "bot", acct.BotID)
			return acct, nil
		}
		if !sleep(ctx, a.qrPause) {
			return account{}, ctx.Err()
		}
	}
}

// redirectBase is the base URL of another host for QR polls: the scheme
// of the current base with the new host.
func redirectBase(current, host string) (string, bool) {
	host = strings.TrimSpace(host)
	if host == "" || strings.ContainsAny(host, "/?#@ \\") {
		return "", false
	}
	u, err := url.Parse(current)
	if err != nil {
		return "", false
	}
	next := url.URL{Scheme: u.Scheme, Host: host}
	if next.Hostname() == "" {
		return "", false
	}
	return next.String(), true
}

// readVerifyCode asks for the number the phone shows and reads it from the
// terminal.
func (a *Adapter) readVerifyCode(ctx context.Context, retry bool) (string, error) {
	if retry {
		fmt.Fprint(a.qrOut, "The number did not match; type the number WeChat shows on the phone: ")
	} else {
		fmt.Fprint(a.qrOut, "Type the number WeChat shows on the phone, then Enter: ")
	}
	if a.codeIn == nil {
		return "", errors.New("WeChat asks for the number shown on the phone, but there is no terminal to type it in")
	}
	a.codeOnce.Do(func() {
		// One reader for the process: a read abandoned when ctx ended
		// must not race with the next one.
		a.codeLines = make(chan string)
		go func() {
			defer close(a.codeLines)
			for {
				line, err := a.codeIn.ReadString('\n')
				if s := strings.TrimSpace(line); s != "" {
					a.codeLines <- s
				}
				if err != nil {
					return
				}
			}
		}()
	})
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case s, ok := <-a.codeLines:
		if !ok {
			return "", errors.New("WeChat asks for the number shown on the phone, but the terminal input has ended")
		}
		return s, nil
	}
}

// showQR prints the login QR code and writes it as a PNG image (0600).
func (a *Adapter) showQR(content string) {
	fmt.Fprintln(a.qrOut, "Scan this QR code with WeChat on your phone to connect chatloop (iLink bot):")
	qrterminal.GenerateWithConfig(content, qrterminal.Config{
		Level:          qrterminal.L,
		Writer:         a.qrOut,
		HalfBlocks:     true,
		BlackChar:      qrterminal.BLACK_BLACK,
		WhiteBlackChar: qrterminal.WHITE_BLACK,
		WhiteChar:      qrterminal.WHITE_WHITE,
		BlackWhiteChar: qrterminal.BLACK_WHITE,
		QuietZone:      2,
	})
	fmt.Fprintf(a.qrOut, "If the code does not scan, open this link in WeChat: %s\n", content)
	path := a.cfg.qrFile()
	png, err := qrcode.Encode(content, qrcode.Medium, 256)
	if err == nil {
		err = atomicfile.WritePrivate(path, png)
	}
	if err != nil {
		a.log.Warn("writing the QR code image", "file", path, "err", err)
		path = ""
	}
	a.log.Info("scan the QR code with WeChat to log in", "png", path)
}

// removeQR deletes the QR image once it is of no use.
func (a *Adapter) removeQR() {
	if err := os.Remove(a.cfg.qrFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Warn("removing the QR code image", "err", err)
	}
}

// lineReader reads lines of terminal input.
type lineReader interface {
	ReadString(delim byte) (string, error)
}

var _ lineReader = (*bufio.Reader)(nil)
