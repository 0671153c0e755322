package discord

// UserIDForms says how a person's id is written wherever chatloop asks
// for one as discord:ID ([bot] admins, feedback forget --user): the
// adapter stores Discord's user id, a snowflake number.
const UserIDForms = "the user's numeric id, e.g. discord:80351110224678912 (in Discord: Settings → Advanced → Developer Mode, then right-click the person → Copy User ID)"
