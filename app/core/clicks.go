package core

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/app/secretbox"
)

// Click tracking. A tracked link is BaseURL/c/<token>; the token is signed
// and carries the message and the target, so the redirect needs no lookup
// table and cannot be turned into an open redirect.

// ClickPurpose is the signer purpose of click tokens.
const ClickPurpose = "click"

// ClickTTL is how long a tracked link keeps working.
const ClickTTL = 400 * 24 * time.Hour

// Click is what a click token carries.
type Click struct {
	MessageID int64  `json:"m"`
	Kind      string `json:"k"`
	Target    string `json:"u"`
}

// ClickToken signs a click token for a link in message id of kind.
func ClickToken(s *secretbox.Signer, c Click, now time.Time) string {
	b, _ := json.Marshal(c)
	return s.Sign(ClickPurpose, b, now.Add(ClickTTL))
}

// ParseClickToken verifies a click token.
func ParseClickToken(s *secretbox.Signer, token string, now time.Time) (Click, error) {
	var c Click
	b, err := s.Verify(ClickPurpose, token, now)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Target == "" {
		return c, secretbox.ErrBadToken
	}
	return c, nil
}

// WithUTM adds LINE's UTM parameters to target (keeping any the merchant set).
func WithUTM(target, kind string) string {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return target
	}
	q := u.Query()
	for k, v := range map[string]string{"utm_source": "line", "utm_medium": "message", "utm_campaign": kind} {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// CampaignLinkURL is a variant's tracked link: /cc/{token}, where the
// token is the campaign and variant signed with the app's key, so click
// ids cannot be guessed or enumerated. The handler records the click and
// redirects to the variant's Link (read from the database, so the URL
// cannot be turned into an open redirect). Multicast sends one body to 500
// people, so the link names the variant, not the person; the token does
// not expire (a customer may open an old message months later) and is the
// same for every batch of the campaign.
func CampaignLinkURL(baseURL string, s *secretbox.Signer, campaignID int64, variant string) string {
	return strings.TrimRight(baseURL, "/") + "/cc/" + CampaignClickToken(s, campaignID, variant)
}

// CampaignClickPurpose separates campaign click tokens from other signed tokens.
const CampaignClickPurpose = "campaign-click"

// campaignClickExpiry is fixed (not "now + TTL") so that every batch of a
// campaign carries the same link.
var campaignClickExpiry = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// CampaignClickToken signs "campaignID|variant".
func CampaignClickToken(s *secretbox.Signer, campaignID int64, variant string) string {
	return s.Sign(CampaignClickPurpose, []byte(strconv.FormatInt(campaignID, 10)+"|"+variant), campaignClickExpiry)
}

// ParseCampaignClickToken verifies a token from CampaignClickToken.
func ParseCampaignClickToken(s *secretbox.Signer, token string, now time.Time) (int64, string, error) {
	b, err := s.Verify(CampaignClickPurpose, token, now)
	if err != nil {
		return 0, "", err
	}
	id, variant, ok := strings.Cut(string(b), "|")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 {
		return 0, "", secretbox.ErrBadToken
	}
	return n, variant, nil
}

// UTMLink adds Tsunagu's UTM parameters for a campaign to dest.
func UTMLink(dest string, campaignID int64, variant string) string {
	u, err := url.Parse(dest)
	if err != nil {
		return dest
	}
	q := u.Query()
	q.Set("utm_source", "line")
	q.Set("utm_medium", "tsunagu")
	q.Set("utm_campaign", "campaign-"+strconv.FormatInt(campaignID, 10))
	if variant != "" {
		q.Set("utm_content", variant)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// RecipientClickPurpose separates per-recipient campaign click tokens.
const RecipientClickPurpose = "campaign-recipient-click"

// RecipientLinkURL is one recipient's tracked link in a campaign sent per
// recipient: /cr/{token}, the token signing campaign, variant and the
// recipient row, so the click records the customer (and "clicked:
// campaign" segments match them) without anything guessable in the URL.
// Like CampaignLinkURL it does not expire. Someone the recipient forwards
// the message to is counted as the recipient: the link names the message,
// not the reader.
func RecipientLinkURL(baseURL string, s *secretbox.Signer, campaignID int64, variant string, recipientID int64) string {
	payload := strconv.FormatInt(campaignID, 10) + "|" + variant + "|" + strconv.FormatInt(recipientID, 10)
	return strings.TrimRight(baseURL, "/") + "/cr/" + s.Sign(RecipientClickPurpose, []byte(payload), campaignClickExpiry)
}

// ParseRecipientClickToken verifies a token from RecipientLinkURL.
func ParseRecipientClickToken(s *secretbox.Signer, token string, now time.Time) (campaignID int64, variant string, recipientID int64, err error) {
	b, err := s.Verify(RecipientClickPurpose, token, now)
	if err != nil {
		return 0, "", 0, err
	}
	parts := strings.Split(string(b), "|")
	if len(parts) != 3 {
		return 0, "", 0, secretbox.ErrBadToken
	}
	id, err1 := strconv.ParseInt(parts[0], 10, 64)
	rid, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || id <= 0 || rid <= 0 {
		return 0, "", 0, secretbox.ErrBadToken
	}
	return id, parts[1], rid, nil
}
