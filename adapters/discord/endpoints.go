package discord

import (
	"sync"

	"github.com/bwmarrin/discordgo"
)

// endpointsMu serialises changes of discordgo's package-level endpoints.
var endpointsMu sync.Mutex

// useAPIBase points discordgo's REST endpoints (and so its "GET gateway"
// look-up) at base, which must end in "/". discordgo computes its
// endpoint strings once at init from EndpointDiscord; the endpoint
// functions read the string variables when called, so reassigning every
// derived string is enough. This is process-wide.
func useAPIBase(base string) {
	endpointsMu.Lock()
	defer endpointsMu.Unlock()
	if discordgo.EndpointDiscord == base {
		return
	}
	discordgo.EndpointDiscord = base
	api := base + "api/v" + discordgo.APIVersion + "/"
	discordgo.EndpointAPI = api
	discordgo.EndpointGuilds = api + "guilds/"
	discordgo.EndpointChannels = api + "channels/"
	discordgo.EndpointUsers = api + "users/"
	discordgo.EndpointGateway = api + "gateway"
	discordgo.EndpointGatewayBot = discordgo.EndpointGateway + "/bot"
	discordgo.EndpointWebhooks = api + "webhooks/"
	discordgo.EndpointStickers = api + "stickers/"
	discordgo.EndpointStageInstances = api + "stage-instances"
	discordgo.EndpointSKUs = api + "skus"
	discordgo.EndpointVoice = api + "/voice/"
	discordgo.EndpointVoiceRegions = discordgo.EndpointVoice + "regions"
	discordgo.EndpointNitroStickersPacks = api + "/sticker-packs"
	discordgo.EndpointGuildCreate = api + "guilds"
	discordgo.EndpointApplications = api + "applications"
	discordgo.EndpointOAuth2 = api + "oauth2/"
	discordgo.EndpointOAuth2Applications = discordgo.EndpointOAuth2 + "applications"
	discordgo.EndpointOauth2 = discordgo.EndpointOAuth2
	discordgo.EndpointOauth2Applications = discordgo.EndpointOAuth2Applications
}
