package store

import (
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"
)

// Shop is one installed Shopify store.
type Shop struct {
	ID             int64
	Domain         string
	Name           string
	Email          string
	AccessTokenEnc []byte
	// The rest of the expiring offline token pair (see SaveShopToken).
	AccessTokenExpiresAt  *time.Time
	RefreshTokenEnc       []byte
	RefreshTokenExpiresAt *time.Time
	TokenRefreshedAt      *time.Time
	TokenVersion          int64
	// NeedsReauthAt is set when no refresh can recover the grant; Admin API
	// work waits (ReauthReason says why) until the shop authorises again.
	NeedsReauthAt *time.Time
	ReauthReason  string
	Scopes        string
	Timezone      string
	Currency      string
	Locale        string
	Settings      Settings `gorm:"serializer:json"`
	InstalledAt   *time.Time
	UninstalledAt *time.Time
	RedactedAt    *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Active reports whether the shop is installed and may be sent for.
func (s *Shop) Active() bool { return s.UninstalledAt == nil && s.RedactedAt == nil }

// Location is the shop's time zone, Asia/Tokyo when unknown.
func (s *Shop) Location() *time.Location {
	if loc, err := time.LoadLocation(s.Timezone); err == nil && s.Timezone != "" {
		return loc
	}
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return time.FixedZone("JST", 9*3600)
	}
	return loc
}

// LineChannel is a shop's LINE Messaging API and LINE Login channels.
type LineChannel struct {
	ID                 int64
	ShopID             int64
	WebhookKey         string
	MessagingChannelID string
	MessagingSecretEnc []byte
	MessagingTokenEnc  []byte
	LoginChannelID     string
	LoginSecretEnc     []byte
	BotUserID          string
	BotBasicID         string
	BotName            string
	// LastWebhookAt is when a verified LINE webhook last arrived (nil:
	// never; the channel's webhook may belong to another tool).
	LastWebhookAt *time.Time
	// Name is what the admin calls the account (several per shop).
	Name string
	// IsPrimary marks the shop's one primary channel: journeys, linking
	// and the admin use it unless a channel is chosen.
	IsPrimary bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Label is the channel's name for the admin: its name, else its bot's name,
// else its webhook key.
func (c *LineChannel) Label() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.BotName != "":
		return c.BotName
	}
	return "LINE " + c.MessagingChannelID
}

// Customer is a Shopify customer as Tsunagu knows them.
type Customer struct {
	ID               int64
	ShopID           int64
	ShopifyID        int64
	Email            string
	FirstName        string
	LastName         string
	Phone            string
	Tags             string
	Region           string
	Country          string
	Locale           string
	Birthday         string
	AcceptsMarketing bool
	OrdersCount      int
	TotalSpent       decimal.Decimal
	FirstOrderAt     *time.Time
	LastOrderAt      *time.Time
	RedactedAt       *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// ShopifyUpdatedAt is the updated_at of the last customers/* webhook applied.
	ShopifyUpdatedAt *time.Time
	// Marketing consent as the consent topics (or the history import) last
	// said, with the time it was given or withdrawn. AcceptsMarketing is
	// email consent; SMSMarketing is SMS consent.
	EmailConsentState string
	EmailConsentAt    *time.Time
	SMSMarketing      bool
	SMSConsentState   string
	SMSConsentAt      *time.Time
}

// Name is the display name, family name first as Japanese customers expect.
func (c *Customer) Name(lang string) string {
	if lang == "ja" && c.LastName != "" {
		if c.FirstName == "" {
			return c.LastName
		}
		return c.LastName + " " + c.FirstName
	}
	switch {
	case c.FirstName == "":
		return c.LastName
	case c.LastName == "":
		return c.FirstName
	}
	return c.FirstName + " " + c.LastName
}

// LineLink ties a LINE user to a customer. A live link has no UnlinkedAt.
type LineLink struct {
	ID         int64
	ShopID     int64
	CustomerID int64
	LineUserID string
	// ChannelID is the LINE channel the link was made on (migration 0049);
	// sends to the customer go through it. Zero on insert: the primary.
	ChannelID    int64 `gorm:"default:null"`
	DisplayName  string
	PictureURL   string
	Friend       bool
	Blocked      bool
	LinkedAt     time.Time
	UnlinkedAt   *time.Time
	UnlinkReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Order is a Shopify order.
type Order struct {
	ID                int64
	ShopID            int64
	ShopifyID         int64
	CustomerID        *int64
	Name              string
	Email             string
	Currency          string
	TotalPrice        decimal.Decimal
	SubtotalPrice     decimal.Decimal
	FinancialStatus   string
	FulfillmentStatus string
	CheckoutToken     string
	CartToken         string
	OrderStatusURL    string
	DiscountCodes     string
	// Locale is the order's customer_locale: the language the buyer shopped in.
	Locale      string
	CancelledAt *time.Time
	OrderedAt   time.Time
	// ShopifyUpdatedAt is Shopify's updated_at of the stored version.
	ShopifyUpdatedAt *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Items            []OrderItem `gorm:"foreignKey:OrderID"`
}

// Void reports whether the order no longer stands: cancelled or fully refunded.
func (o *Order) Void() bool {
	return o.CancelledAt != nil || o.FinancialStatus == "refunded" || o.FinancialStatus == "voided"
}

// OrderItem is one line of an order.
type OrderItem struct {
	ID        int64
	OrderID   int64
	ShopifyID int64
	ProductID int64
	VariantID int64
	Title     string
	Vendor    string
	SKU       string `gorm:"column:sku"`
	Quantity  int
	Price     decimal.Decimal
	// CustomerID is the order's customer while the order counts as a
	// purchase (not cancelled), else nil: segments read it (0050). The
	// store sets it when it writes the items; callers leave it alone.
	CustomerID *int64 `json:"-"`
}

// Fulfillment is a shipment of an order.
type Fulfillment struct {
	ID              int64
	ShopID          int64
	ShopifyID       int64
	OrderID         *int64
	ShopifyOrderID  int64
	Status          string
	ShipmentStatus  string
	TrackingCompany string
	TrackingNumber  string
	TrackingURL     string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Checkout is a (possibly abandoned) checkout.
type Checkout struct {
	ID           int64
	ShopID       int64
	Token        string
	CartToken    string
	CustomerID   *int64
	Email        string
	Currency     string
	TotalPrice   decimal.Decimal
	AbandonedURL string
	CompletedAt  *time.Time
	OrderID      *int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Items        []CheckoutItem `gorm:"serializer:json"`
	Locale       string
}

// Event statuses.
const (
	EventReceived  = "received"
	EventProcessed = "processed"
	EventIgnored   = "ignored"
	EventInvalid   = "invalid"
	EventFailed    = "failed" // kept for events finished before dead-lettering existed
	// EventDead is the dead-letter state: the event could not be applied
	// (a permanent refusal, or every attempt failed). Admin lists these and
	// an operator can replay them.
	EventDead = "dead"
	// EventWaitingReauth: the event needs the Admin API and the shop must
	// authorise again; it is processed again once it has (RequeueWaitingEvents).
	EventWaitingReauth = "waiting_reauth"
)

// Event is one inbound webhook delivery, stored before it is acknowledged.
type Event struct {
	ID          int64
	Source      string
	Topic       string
	ExternalID  string
	ShopID      *int64
	ShopDomain  string
	Payload     []byte
	Status      string
	Error       string
	Attempts    int
	ReceivedAt  time.Time
	ProcessedAt *time.Time
	// NextAttemptAt is when the relay may offer the event again (nil: now).
	NextAttemptAt *time.Time
	// LineChannelID is the channel whose webhook URL received a LINE event
	// (nil for Shopify events and LINE events stored before migration 0049).
	LineChannelID *int64
}

// Message statuses.
const (
	MsgQueued    = "queued"
	MsgSending   = "sending"
	MsgSent      = "sent"
	MsgFailed    = "failed"
	MsgSkipped   = "skipped"
	MsgCancelled = "cancelled"
)

// Message is one planned LINE message to one customer.
type Message struct {
	ID            int64
	ShopID        int64
	CustomerID    *int64
	Kind          string
	DedupeKey     string
	RefType       string
	RefID         int64
	CampaignID    *int64
	LineUserID    string
	ScheduledFor  time.Time
	Status        string
	Reason        string
	Content       string
	LineRequestID string
	Attempts      int
	// RetryNonce moves the message to a fresh X-Line-Retry-Key after a
	// conflict; RetryKeyFrom is Attempts when that key was first used.
	RetryNonce   int
	RetryKeyFrom int
	// KeyFirstTriedAt is when the current retry key was first sent (nil:
	// not yet, or before migration 0029).
	KeyFirstTriedAt *time.Time
	SentAt          *time.Time
	// ExpiresAt is when the message stops making sense (nil: never).
	ExpiresAt *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
	// FriendID is the LINE friend a reply or greeting went to (linked or not).
	FriendID *int64
	// Delivery is how LINE got it: DeliveryReply (free) or DeliveryPush (counted).
	Delivery string
	// StaffName signs a staff reply.
	StaffName string
}

// Message deliveries.
const (
	DeliveryReply = "reply"
	DeliveryPush  = "push"
)

// Final reports whether the message has reached a terminal status.
func (m *Message) Final() bool {
	switch m.Status {
	case MsgSent, MsgFailed, MsgSkipped, MsgCancelled:
		return true
	}
	return false
}

// Coupon is a discount code issued to a customer.
type Coupon struct {
	ID                int64
	ShopID            int64
	CustomerID        *int64
	Campaign          string
	Code              string
	ShopifyDiscountID string
	Status            string
	IssuedAt          *time.Time
	ExpiresAt         *time.Time
	RedeemedAt        *time.Time
	RedeemedOrderID   *int64
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Activity is a timeline entry with no row of its own.
type Activity struct {
	ID         int64
	ShopID     int64
	CustomerID *int64
	Kind       string
	Summary    string
	Data       string
	RefType    string
	RefID      int64
	OccurredAt time.Time
	// FriendID is the LINE friend the entry is about, linked or not; linking
	// sets CustomerID on every entry of the friend.
	FriendID *int64
}

// Activity kinds.
const (
	ActLinked          = "linked"
	ActUnlinked        = "unlinked"
	ActFollow          = "follow"
	ActUnfollow        = "unfollow"
	ActLineMessageIn   = "line_message_in"
	ActClick           = "click"
	ActCouponIssued    = "coupon_issued"
	ActGDPRDataRequest = "gdpr_data_request"
	ActGDPRRedact      = "gdpr_redact"
	ActPostback        = "line_postback"
)

// BeforeSave stores a checkout without lines as "[]": the column is NOT NULL.
func (c *Checkout) BeforeSave(*gorm.DB) error {
	if c.Items == nil {
		c.Items = []CheckoutItem{}
	}
	return nil
}
