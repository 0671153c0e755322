package wecom

// UserIDForms says how a person's id is written wherever chatloop asks
// for one as wecom:ID ([bot] admins, [wecom] allowed_users, feedback
// forget --user): the adapter stores the member's UserID (FromUserName of
// the callback).
const UserIDForms = "the member's UserID (account) from the WeCom admin console's contacts, e.g. wecom:zhangsan"
