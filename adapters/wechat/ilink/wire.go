package ilink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// The wire types below follow the JSON of Tencent's reference client
// (@tencent-weixin/openclaw-weixin, src/api/types.ts). Only the fields
// chatloop reads or writes are declared; the rest are ignored.

// Message types (WeixinMessage.message_type).
const (
	messageTypeUser = 1
	messageTypeBot  = 2
)

// Item types (MessageItem.type).
const (
	itemText  = 1
	itemImage = 2
	itemVoice = 3
	itemFile  = 4
	itemVideo = 5
)

// messageStateFinish marks a complete message (MessageState.FINISH). The
// reference never sends GENERATING for text: a reply goes out whole.
const messageStateFinish = 2

// Typing statuses (SendTypingReq.status).
const (
	typingOn     = 1
	typingCancel = 2
)

// errcodeSessionExpired is the ret or errcode of a stale bot token
// (session-guard.ts: STALE_TOKEN_ERRCODE).
const errcodeSessionExpired = -14

// wireID is a uint64 message id. The server writes it as a JSON number
// that float64 would round (ids are above 2^53), and newer fields as a
// string; both are kept exactly, as their decimal digits.
type wireID string

// UnmarshalJSON accepts a non-negative integer number or a string of one.
// null and "" are the empty id.
func (id *wireID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*id = ""
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("message id: %w", err)
		}
		if s == "" {
			*id = ""
			return nil
		}
	}
	if _, err := strconv.ParseUint(s, 10, 64); err != nil {
		return fmt.Errorf("message id %q is not a uint64", truncate(s, 40))
	}
	*id = wireID(s)
	return nil
}

// MarshalJSON writes the id as a JSON number, as the server does.
func (id wireID) MarshalJSON() ([]byte, error) {
	if id == "" {
		return []byte("null"), nil
	}
	if _, err := strconv.ParseUint(string(id), 10, 64); err != nil {
		return nil, fmt.Errorf("message id %q is not a uint64", truncate(string(id), 40))
	}
	return []byte(id), nil
}

// baseInfo is attached to every request.
type baseInfo struct {
	ChannelVersion string `json:"channel_version,omitempty"`
	BotAgent       string `json:"bot_agent,omitempty"`
}

type textItem struct {
	Text string `json:"text"`
}

type voiceItem struct {
	Text     string `json:"text,omitempty"`
	Playtime int64  `json:"playtime,omitempty"`
}

type fileItem struct {
	FileName string `json:"file_name,omitempty"`
}

// refMessage is the message a quote-reply quotes.
type refMessage struct {
	MessageItem *messageItem `json:"message_item,omitempty"`
	Title       string       `json:"title,omitempty"`
	SvrID       wireID       `json:"svr_id,omitempty"`
}

type messageItem struct {
	Type      int         `json:"type"`
	MsgID     wireID      `json:"msg_id,omitempty"`
	RefMsg    *refMessage `json:"ref_msg,omitempty"`
	TextItem  *textItem   `json:"text_item,omitempty"`
	VoiceItem *voiceItem  `json:"voice_item,omitempty"`
	FileItem  *fileItem   `json:"file_item,omitempty"`
	ImageItem *struct{}   `json:"image_item,omitempty"`
	VideoItem *struct{}   `json:"video_item,omitempty"`
}

// weixinMessage is one message (proto WeixinMessage).
type weixinMessage struct {
	Seq          int64         `json:"seq,omitempty"`
	MessageID    wireID        `json:"message_id,omitempty"`
	FromUserID   string        `json:"from_user_id"`
	ToUserID     string        `json:"to_user_id"`
	ClientID     string        `json:"client_id,omitempty"`
	CreateTimeMS int64         `json:"create_time_ms,omitempty"`
	SessionID    string        `json:"session_id,omitempty"`
	GroupID      string        `json:"group_id,omitempty"`
	MessageType  int           `json:"message_type,omitempty"`
	MessageState int           `json:"message_state,omitempty"`
	ItemList     []messageItem `json:"item_list,omitempty"`
	ContextToken string        `json:"context_token,omitempty"`
}

type getUpdatesReq struct {
	GetUpdatesBuf string   `json:"get_updates_buf"`
	BaseInfo      baseInfo `json:"base_info"`
}

type getUpdatesResp struct {
	Ret                  int             `json:"ret"`
	Errcode              int             `json:"errcode"`
	Errmsg               string          `json:"errmsg"`
	Msgs                 []weixinMessage `json:"msgs"`
	GetUpdatesBuf        string          `json:"get_updates_buf"`
	LongpollingTimeoutMS int64           `json:"longpolling_timeout_ms"`
}

type sendMessageReq struct {
	Msg      weixinMessage `json:"msg"`
	BaseInfo baseInfo      `json:"base_info"`
}

type sendMessageResp struct {
	MessageID wireID `json:"message_id"`
	Ret       int    `json:"ret"`
	Errcode   int    `json:"errcode"`
	Errmsg    string `json:"errmsg"`
}

type getConfigReq struct {
	ILinkUserID  string   `json:"ilink_user_id"`
	ContextToken string   `json:"context_token,omitempty"`
	BaseInfo     baseInfo `json:"base_info"`
}

type getConfigResp struct {
	Ret          int    `json:"ret"`
	Errcode      int    `json:"errcode"`
	Errmsg       string `json:"errmsg"`
	TypingTicket string `json:"typing_ticket"`
}

type sendTypingReq struct {
	ILinkUserID  string   `json:"ilink_user_id"`
	TypingTicket string   `json:"typing_ticket"`
	Status       int      `json:"status"`
	BaseInfo     baseInfo `json:"base_info"`
}

// plainResp is the answer of calls whose only content is the result.
type plainResp struct {
	Ret     int    `json:"ret"`
	Errcode int    `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

type qrCodeResp struct {
	QRCode           string `json:"qrcode"`
	QRCodeImgContent string `json:"qrcode_img_content"`
}

// QR login statuses (login-qr.ts).
const (
	qrWait              = "wait"
	qrScanned           = "scaned"
	qrConfirmed         = "confirmed"
	qrExpired           = "expired"
	qrRedirect          = "scaned_but_redirect"
	qrNeedVerifyCode    = "need_verifycode"
	qrVerifyCodeBlocked = "verify_code_blocked"
	qrAlreadyBound      = "binded_redirect"
)

type qrStatusResp struct {
	Status       string `json:"status"`
	BotToken     string `json:"bot_token"`
	ILinkBotID   string `json:"ilink_bot_id"`
	BaseURL      string `json:"baseurl"`
	ILinkUserID  string `json:"ilink_user_id"`
	RedirectHost string `json:"redirect_host"`
}

// truncate shortens s to at most n bytes for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
