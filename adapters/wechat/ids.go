package wechat

// UserIDForms says how a person's id is written wherever chatloop asks
// for one as wechat:ID ([bot] admins, feedback forget --user). The web
// protocol gives no stable WeChat id (wxid): user names change with every
// login, so the adapter knows people by the remark name the bot's account
// gave them, else by "~" and their own nickname (see identity). The iLink
// protocol reports a user id of its own.
const UserIDForms = "the remark name the bot's account gave the person, e.g. wechat:Alice, else ~ and their WeChat nickname, e.g. wechat:~小明 (the web protocol shows no wxid); with the iLink protocol, the user id iLink reports, e.g. wechat:o9cq800kum@im.wechat"
