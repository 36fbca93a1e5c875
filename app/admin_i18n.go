package app

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/templates"
)

const langCookie = "tsunagu_lang"

// adminLang picks the admin UI language: ?lang= (remembered in a cookie),
// then the cookie, then Accept-Language; Japanese by default.
func adminLang(c echo.Context) string {
	if l := c.QueryParam("lang"); l == "ja" || l == "en" {
		c.SetCookie(&http.Cookie{Name: langCookie, Value: l, Path: "/admin", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		return l
	}
	if ck, err := c.Cookie(langCookie); err == nil && (ck.Value == "ja" || ck.Value == "en") {
		return ck.Value
	}
	return pageLang(c)
}

// uiText is the admin's strings: key → {ja, en}.
var uiText = map[string][2]string{
	"reauth.banner":                     {"Shopify との接続が切れています（トークンを更新できません）。クーポン発行・タグ付けなどは再接続まで保留中で、失われません。", "Tsunagu has lost its connection to Shopify (the token can no longer be refreshed). Coupons, tags and other Shopify work are on hold until you reconnect; nothing is lost."},
	"reauth.button":                     {"Shopify に再接続", "Reconnect to Shopify"},
	"nav.home":                          {"ホーム", "Home"},
	"nav.customers":                     {"顧客", "Customers"},
	"nav.settings":                      {"設定", "Settings"},
	"nav.templates":                     {"テンプレート", "Templates"},
	"nav.segments":                      {"セグメント", "Segments"},
	"nav.campaigns":                     {"キャンペーン", "Campaigns"},
	"camp.title":                        {"キャンペーン", "Campaigns"},
	"camp.segments":                     {"セグメントの確認", "Preview a segment"},
	"camp.seg_help":                     {"保存済み・組み込みのセグメント、または条件（JSON）を選ぶと、対象人数とお客様の例を表示します。", "Pick a saved or built-in segment, or write a definition (JSON), to see how many customers match and a sample of them."},
	"camp.segment":                      {"セグメント", "Segment"},
	"camp.custom":                       {"条件を入力（JSON）", "Custom definition (JSON)"},
	"camp.definition":                   {"条件（JSON）", "Definition (JSON)"},
	"camp.preview":                      {"対象人数を確認", "Count matches"},
	"camp.matches":                      {"%d 人が該当します", "Matching customers: %d"},
	"camp.name":                         {"キャンペーン", "Campaign"},
	"camp.status":                       {"状態", "Status"},
	"camp.progress":                     {"進捗", "Progress"},
	"camp.sent":                         {"送信", "Sent"},
	"camp.skipped":                      {"スキップ", "Skipped"},
	"camp.report":                       {"レポート", "Report"},
	"camp.scheduled":                    {"予約:", "Scheduled:"},
	"camp.none":                         {"キャンペーンはまだありません。", "No campaigns yet."},
	"camp.api":                          {"キャンペーンの作成・送信・A/B テストの勝者配信は /api/campaigns、セグメントの保存は /api/segments から行えます（README 参照）。", "Create, send and pick A/B winners through /api/campaigns; save segments through /api/segments (see the README)."},
	"seg.vip":                           {"VIP（RFM 上位）", "VIP (top RFM)"},
	"seg.at_risk":                       {"離反リスク", "At risk"},
	"seg.dormant":                       {"休眠", "Dormant"},
	"seg.new":                           {"新規", "New"},
	"seg.birthday_this_month":           {"今月誕生日", "Birthday this month"},
	"seg.linked_never_ordered":          {"LINE 連携済み・未購入", "Linked, never ordered"},
	"home.title":                        {"ホーム", "Home"},
	"setup.title":                       {"はじめの設定", "Set up Tsunagu"},
	"setup.done":                        {"完了", "Done"},
	"setup.todo":                        {"未設定", "To do"},
	"setup.line":                        {"LINE チャネルを接続する", "Connect your LINE channels"},
	"setup.line.help":                   {"Messaging API と LINE ログインのチャネル情報を入力し、接続テストをします。", "Enter your Messaging API and LINE Login channel details and test the connection."},
	"setup.incentive":                   {"連携特典クーポンを決める", "Choose the linking coupon"},
	"setup.incentive.help":              {"LINE 連携したお客様に一度だけ贈るクーポンです。", "A one-time coupon for customers who link LINE."},
	"setup.journeys":                    {"配信シナリオを確認する", "Review the journeys"},
	"setup.journeys.help":               {"サンクス、発送通知、カゴ落ち、フォローの配信と待ち時間、配信停止時間帯、上限。", "Thank-you, shipping, cart reminders, follow-ups: on/off, delays, quiet hours, daily cap."},
	"setup.templates":                   {"メッセージを確認する", "Check your messages"},
	"setup.templates.help":              {"実際の注文でプレビューしながら文面を編集できます。", "Edit the wording with a live preview from a real order."},
	"setup.checkout":                    {"サンクスページに連携ブロックを置く", "Add the LINE block to the Thank-you page"},
	"setup.checkout.help":               {"チェックアウトエディタで「アプリブロックを追加」から Tsunagu のブロックをサンクスページと注文状況ページに置きます。購入直後に LINE 連携を案内できます。", "In the checkout editor, use Add app block to place Tsunagu's block on the Thank-you and Order status pages, so buyers can link LINE right after purchase."},
	"setup.theme":                       {"ストアのアプリ埋め込みをオンにする", "Turn on the storefront app embed"},
	"setup.theme.help":                  {"テーマエディタのアプリ埋め込みで Tsunagu をオンにして保存します。ストア上の LINE バナーと、閲覧リマインドのための計測が動きます。", "In the theme editor's App embeds, switch Tsunagu on and save: the storefront LINE banner appears and browse reminders can recognise signed-in shoppers."},
	"setup.link":                        {"最初のお客様が連携する", "Your first customer links LINE"},
	"setup.link.help":                   {"ブロックか埋め込みから最初の連携が届くと完了です。", "Done when the first customer links from the block or the embed."},
	"quota.exhausted":                   {"LINE の今月の無料メッセージ数の上限に達しました。キャンペーンなどのマーケティング配信は来月まで止まっています。サンクスと発送通知は送り続けます。続けるには LINE 公式アカウントの料金プランを見直してください。", "Your LINE account reached this month's message limit. Campaigns and other marketing messages are paused until next month; thank-you and shipping notices keep going. To continue, review your LINE Official Account plan."},
	"quota.manage":                      {"LINE Official Account Manager を開く", "Open LINE Official Account Manager"},
	"quota.unread":                      {"今月の上限はまだ読み取っていません", "Not read this month yet"},
	"quota.account_exhausted":           {"今月の上限に到達", "Monthly limit reached"},
	"quota.used":                        {"今月の LINE 配信数", "LINE messages this month"},
	"quota.left":                        {"残り", "left"},
	"fc.title":                          {"今月の配信コスト見込み", "This month's LINE cost forecast"},
	"fc.sent":                           {"送信済み", "Sent so far"},
	"fc.planned":                        {"予定（月末まで）", "Planned until the month ends"},
	"fc.total":                          {"見込み合計", "Forecast total"},
	"fc.price":                          {"1通あたり", "Per message"},
	"fc.over_quota":                     {"予定の配信が今月の残り通数を超えています", "Planned messages exceed this month's remaining quota"},
	"fc.scheduled":                      {"予約中のキャンペーン（開始時に配信先が決まるため見込みに含まれません）", "Scheduled campaigns (recipients are chosen when they start, so not in the forecast):"},
	"setup.open":                        {"開く", "Open"},
	"dash.title":                        {"配信の成果（過去30日）", "Results (last 30 days)"},
	"dash.journey":                      {"シナリオ", "Journey"},
	"dash.planned":                      {"予定", "Planned"},
	"dash.sent":                         {"送信", "Sent"},
	"dash.skipped":                      {"スキップ", "Skipped"},
	"dash.failed":                       {"失敗", "Failed"},
	"dash.clicks":                       {"クリック", "Clicks"},
	"dash.orders":                       {"注文", "Orders"},
	"dash.revenue":                      {"売上", "Revenue"},
	"dash.none":                         {"まだ配信はありません。", "No messages yet."},
	"dash.linked":                       {"LINE 連携済みのお客様", "Customers linked to LINE"},
	"dash.linked_of":                    {"人 / 全顧客", "of all customers:"},
	"dash.attribution":                  {"売上はメッセージのクリックから7日以内の注文、またはメッセージのクーポンを使った注文です。", "Revenue counts orders within 7 days of a click on a message, or using the message's coupon."},
	"cust.title":                        {"顧客", "Customers"},
	"cust.search":                       {"メール、名前、電話番号、注文番号（#1001）、顧客ID、LINE 名で検索", "Search by email, name, phone, order (#1001), customer ID or LINE name"},
	"cust.go":                           {"検索", "Search"},
	"cust.name":                         {"名前", "Name"},
	"cust.email":                        {"メール", "Email"},
	"cust.phone":                        {"電話", "Phone"},
	"cust.line":                         {"LINE", "LINE"},
	"cust.orders":                       {"注文数", "Orders"},
	"cust.spent":                        {"購入金額", "Spent"},
	"cust.none":                         {"見つかりませんでした。", "No customers found."},
	"cust.more":                         {"さらに表示", "More"},
	"cust.linked":                       {"連携中", "Linked"},
	"cust.unlinked":                     {"未連携", "Not linked"},
	"cust.blocked":                      {"ブロック", "Blocked"},
	"cust.was_linked":                   {"連携解除済み", "Unlinked"},
	"cust.in_shopify":                   {"Shopify で開く", "Open in Shopify"},
	"tl.title":                          {"タイムライン", "Timeline"},
	"tl.all":                            {"すべて", "All"},
	"tl.none":                           {"まだ何もありません。", "Nothing yet."},
	"tl.older":                          {"さらに古い履歴", "Older"},
	"tl.reason":                         {"理由", "Reason"},
	"tl.scheduled":                      {"予定時刻", "Scheduled"},
	"tl.sent_at":                        {"送信時刻", "Sent"},
	"tl.tracking":                       {"追跡", "Tracking"},
	"tl.recover":                        {"カート復元 URL", "Recovery URL"},
	"grp.orders":                        {"注文", "Orders"},
	"grp.fulfillments":                  {"発送", "Fulfillments"},
	"grp.checkouts":                     {"チェックアウト", "Checkouts"},
	"grp.links":                         {"連携", "Linking"},
	"grp.coupons":                       {"クーポン", "Coupons"},
	"grp.messages":                      {"メッセージ", "Messages"},
	"grp.inbound":                       {"受信", "Inbound"},
	"grp.follows":                       {"友だち", "Friends"},
	"grp.clicks":                        {"クリック", "Clicks"},
	"grp.browsing":                      {"閲覧", "Browsing"},
	"grp.gdpr":                          {"GDPR", "GDPR"},
	"grp.other":                         {"その他", "Other"},
	"kind.order":                        {"注文", "Order"},
	"kind.product_viewed":               {"商品を閲覧", "Viewed a product"},
	"kind.collection_viewed":            {"コレクションを閲覧", "Viewed a collection"},
	"kind.product_added_to_cart":        {"カートに追加", "Added to cart"},
	"kind.checkout_started":             {"チェックアウト開始", "Started checkout"},
	"kind.search_submitted":             {"検索", "Searched"},
	"kind.fulfillment":                  {"発送", "Shipped"},
	"kind.checkout":                     {"チェックアウト", "Checkout"},
	"kind.linked":                       {"LINE 連携", "Linked LINE"},
	"kind.unlinked":                     {"LINE 連携解除", "Unlinked LINE"},
	"kind.coupon_issued":                {"クーポン発行", "Coupon issued"},
	"kind.coupon_redeemed":              {"クーポン利用", "Coupon redeemed"},
	"kind.follow":                       {"友だち追加", "Added as friend"},
	"kind.unfollow":                     {"ブロック", "Blocked the account"},
	"kind.line_message_in":              {"LINE メッセージ受信", "LINE message received"},
	"kind.click":                        {"リンクをクリック", "Clicked a link"},
	"kind.gdpr_data_request":            {"GDPR データ開示請求", "GDPR data request"},
	"kind.gdpr_redact":                  {"GDPR 削除請求", "GDPR redaction"},
	"set.link":                          {"LINE 連携の入口（アプリ拡張）", "LINE linking entry points (app extensions)"},
	"set.link.help":                     {"Shopify の追加スクリプトは廃止されました。サンクスページ・注文状況ページにはチェックアウトエディタで「LINEで受け取る」ブロックを、ストアにはテーマエディタでアプリ埋め込みを追加してください。連携済みのお客様には表示されません。", "Shopify has switched off Additional scripts. Add the Get order updates on LINE block to the Thank-you and Order status pages in the checkout editor, and turn on the app embed in the theme editor. Customers who already linked do not see them."},
	"set.link.checkout":                 {"チェックアウトエディタを開く", "Open the checkout editor"},
	"set.history":                       {"過去の注文と顧客の取り込み", "Order and customer history"},
	"set.history.help":                  {"インストール時に Shopify の一括クエリで過去の顧客と注文を取り込みます。取り込んだ履歴からメッセージは送られません。再実行しても重複しません。", "At install Tsunagu imports the shop's past customers and orders with Shopify bulk queries. History never sends a message, and running it again duplicates nothing."},
	"set.history.since":                 {"この日以降の注文（空欄はすべて）", "Orders since (empty: all)"},
	"set.history.start":                 {"履歴を取り込む", "Import history"},
	"set.history.none":                  {"まだ取り込んでいません。", "Not imported yet."},
	"set.history.customers":             {"顧客", "Customers"},
	"set.history.orders":                {"注文", "Orders"},
	"set.history.pending":               {"開始待ち", "Waiting to start"},
	"set.history.running":               {"Shopify が準備中", "Shopify is preparing the export"},
	"set.history.importing":             {"取り込み中", "Importing"},
	"set.history.done":                  {"完了", "Done"},
	"set.history.failed":                {"失敗", "Failed"},
	"set.history.left":                  {"残り約", "About"},
	"set.history.viewer":                {"取り込みの開始は管理者のみができます。", "Only admins can start an import."},
	"set.link.pixel":                    {"閲覧計測（ウェブピクセル）をオンにする", "Turn on browsing events (web pixel)"},
	"set.link.pixel.help":               {"インストール時に自動でオンになります。権限の更新後や設定が変わったときはここから再設定できます。", "Turned on at install; use this after approving updated permissions or when the app's address changed."},
	"set.link.theme":                    {"テーマのアプリ埋め込みをオンにする", "Turn on the theme app embed"},
	"set.link.steps":                    {"チェックアウトエディタ: 上部で「サンクス」「注文状況」ページを選び、「アプリブロックを追加」から Tsunagu を選んで保存。テーマエディタ: 開いた画面で保存すると埋め込みが有効になります。商品・カート・アカウントページにはアプリブロックも追加できます。", "Checkout editor: pick the Thank you and Order status pages at the top, click Add app block, choose Tsunagu and save. Theme editor: save the page that opens to switch the embed on; product, cart and account pages can also take the app block."},
	"set.link.ext":                      {"拡張機能", "Extension"},
	"set.link.status":                   {"直近7日間の表示", "Seen in the last 7 days"},
	"set.link.seen":                     {"表示あり", "Seen"},
	"set.link.unseen":                   {"まだ表示なし", "Not seen yet"},
	"ext.checkout_thank_you":            {"サンクスページのブロック", "Thank-you page block"},
	"ext.customer_account_order_status": {"注文状況ページのブロック", "Order status page block"},
	"ext.theme_embed":                   {"ストアのアプリ埋め込み（バナー）", "Storefront app embed (banner)"},
	"ext.theme_block":                   {"ストアのアプリブロック", "Storefront app block"},
	"ext.web_pixel":                     {"ウェブピクセル（閲覧データ）", "Web pixel (browsing)"},
	"st.queued":                         {"予定", "Planned"},
	"st.sending":                        {"送信中", "Sending"},
	"st.sent":                           {"送信済み", "Sent"},
	"st.failed":                         {"失敗", "Failed"},
	"st.skipped":                        {"スキップ", "Skipped"},
	"st.cancelled":                      {"キャンセル", "Cancelled"},
	"st.paid":                           {"支払い済み", "Paid"},
	"st.pending":                        {"支払い待ち", "Pending"},
	"st.refunded":                       {"返金済み", "Refunded"},
	"st.voided":                         {"無効", "Voided"},
	"st.abandoned":                      {"未完了", "Abandoned"},
	"st.completed":                      {"完了", "Completed"},
	"st.success":                        {"発送済み", "Shipped"},
	"st.issued":                         {"発行済み", "Issued"},
	"rs.not_linked":                     {"LINE 未連携", "Not linked to LINE"},
	"rs.other_line_account":             {"別の LINE アカウントで連携", "Linked on another LINE account"},
	"rs.unlinked":                       {"連携解除済み", "Unlinked"},
	"rs.blocked":                        {"ブロックされています", "Blocked the account"},
	"rs.redacted":                       {"データ削除済み", "Customer redacted"},
	"rs.shop_uninstalled":               {"アプリ削除済み", "App uninstalled"},
	"rs.journey_disabled":               {"シナリオがオフ", "Journey switched off"},
	"rs.line_not_connected":             {"LINE 未接続", "LINE not connected"},
	"rs.frequency_cap":                  {"1日の上限", "Daily cap reached"},
	"rs.order_cancelled_or_refunded":    {"注文キャンセル・返金", "Order cancelled or refunded"},
	"rs.template_error":                 {"テンプレートエラー", "Template error"},
	"set.title":                         {"設定", "Settings"},
	"set.accounts":                      {"LINE 公式アカウント", "LINE Official Accounts"},
	"set.accounts_help":                 {"複数の LINE 公式アカウントを接続できます。友だち・連携・送信数の上限はアカウントごとです。メインのアカウントが、指定のないジャーニー・連携・配信に使われます。各アカウントの Webhook URL を LINE Developers に設定してください。", "You can connect several LINE Official Accounts. Friends, links and message limits are per account. The primary account is used by journeys, linking and campaigns unless another is chosen. Set each account's webhook URL in LINE Developers."},
	"set.acct_name":                     {"アカウント名（管理用）", "Account name (for staff)"},
	"set.acct_name_ph":                  {"例: 本店 / アウトレット", "e.g. Main store / Outlet"},
	"set.acct_add":                      {"LINE アカウントを追加", "Add a LINE account"},
	"set.acct_edit":                     {"編集", "Edit"},
	"set.primary":                       {"メイン", "Primary"},
	"set.make_primary":                  {"メインにする", "Make primary"},
	"set.editing":                       {"編集中のアカウント", "Editing account"},
	"set.line":                          {"LINE チャネル", "LINE channels"},
	"set.msg_id":                        {"Messaging API チャネル ID", "Messaging API channel ID"},
	"set.msg_secret":                    {"チャネルシークレット", "Channel secret"},
	"set.msg_token":                     {"チャネルアクセストークン（長期）", "Channel access token (long-lived)"},
	"set.login_id":                      {"LINE ログイン チャネル ID", "LINE Login channel ID"},
	"set.login_secret":                  {"LINE ログイン チャネルシークレット", "LINE Login channel secret"},
	"set.secret_kept":                   {"保存済み（変更する場合のみ入力）", "Saved (enter only to change)"},
	"set.save":                          {"保存", "Save"},
	"set.test":                          {"接続テスト", "Test connection"},
	"set.key_error":                     {"保存されている認証情報をこの秘密鍵で復号できません（TSUNAGU_SECRET_KEY が保存時の鍵と違います）。元の鍵に戻すか、LINE のシークレットとトークンを入力し直してください。", "The secret key cannot decrypt stored credentials: TSUNAGU_SECRET_KEY is not the key they were saved with. Restore that key, or enter the LINE secrets and token again."},
	"rs.secret_key_mismatch":            {"秘密鍵が不一致", "secret key cannot decrypt"},
	"set.webhook":                       {"Webhook URL（LINE Developers に設定）", "Webhook URL (set it in LINE Developers)"},
	"set.incentive":                     {"連携特典クーポン", "Linking coupon"},
	"set.inc_on":                        {"連携したお客様にクーポンを贈る", "Give a coupon for linking"},
	"set.inc_kind":                      {"割引の種類", "Discount type"},
	"set.inc_pct":                       {"パーセント", "Percentage"},
	"set.inc_fixed":                     {"定額", "Fixed amount"},
	"set.inc_value":                     {"割引", "Value"},
	"set.inc_min":                       {"最低購入金額", "Minimum subtotal"},
	"set.inc_days":                      {"有効日数", "Valid days"},
	"set.inc_title":                     {"クーポン名", "Title"},
	"set.journeys":                      {"配信シナリオ", "Journeys"},
	"set.on":                            {"オン", "On"},
	"set.delay":                         {"待ち時間（分）", "Delay (minutes)"},
	"set.quiet":                         {"配信停止時間帯", "Quiet hours"},
	"set.cap":                           {"1日の上限（販促メッセージ）", "Daily cap (marketing messages)"},
	"set.trigger":                       {"サンクスを送るタイミング", "Send the thank-you on"},
	"set.trg_create":                    {"注文作成時", "Order created"},
	"set.trg_paid":                      {"支払い完了時", "Order paid"},
	"set.restart":                       {"新しい注文でフォローをやり直す", "A new order restarts the follow-ups"},
	"set.saved":                         {"保存しました", "Saved"},
	"tpl.title":                         {"メッセージテンプレート", "Message templates"},
	"tpl.kind":                          {"種類", "Kind"},
	"tpl.lang":                          {"言語", "Language"},
	"tpl.source":                        {"テンプレート（LINE メッセージ JSON）", "Template (LINE message JSON)"},
	"tpl.preview":                       {"プレビュー", "Preview"},
	"tpl.save":                          {"保存", "Save"},
	"tpl.reset":                         {"デフォルトに戻す", "Restore default"},
	"tpl.custom":                        {"カスタム", "Custom"},
	"tpl.account":                       {"LINE アカウント", "LINE account"},
	"tpl.all_accounts":                  {"すべてのアカウント（ショップ共通）", "All accounts (the shop's template)"},
	"tpl.account_own":                   {"このアカウント専用", "This account's own"},
	"tpl.account_shared":                {"ショップ共通を使用", "Uses the shop's template"},
	"tpl.account_help":                  {"ここで保存したテンプレートは、このアカウントから送るメッセージだけに使われます。「デフォルトに戻す」でショップ共通のテンプレートに戻ります。", "A template saved here is used only for messages sent from this account. Reset returns the account to the shop's template."},
	"tpl.default":                       {"デフォルト", "Default"},
	"tpl.help":                          {"{{ .CustomerName }} {{ .Order.Name }} {{ money .Order.TotalPrice .Order.Currency }} などが使えます。文字列は {{ json ... }} で埋め込みます。", "Use {{ .CustomerName }}, {{ .Order.Name }}, {{ money .Order.TotalPrice .Order.Currency }}… Insert strings with {{ json ... }}."},
	"set.staff":                         {"サポートスタッフ", "Support staff"},
	"set.staff.help":                    {"Shopify 管理画面の権限がないサポート担当者用のアカウントです。閲覧者は顧客とタイムラインを見るだけ、管理者は設定も変更できます。", "Accounts for support staff without Shopify admin access. Viewers see customers and timelines; admins can also change settings."},
	"set.staff.role":                    {"権限", "Role"},
	"set.staff.name":                    {"名前", "Name"},
	"set.staff.viewer":                  {"閲覧者", "Viewer"},
	"set.staff.admin":                   {"管理者", "Admin"},
	"set.staff.password":                {"パスワード（12文字以上）", "Password (12+ characters)"},
	"set.staff.add":                     {"追加", "Add"},
	"set.staff.login":                   {"ログイン URL:", "Sign-in URL:"},
	"lang.ja":                           {"日本語", "Japanese"},
	"lang.en":                           {"英語", "English"},
}

// tr translates key; unknown keys come back as they are, so a missing
// string is visible but never breaks a page.
func tr(lang, key string) string {
	// Message kinds are named by the catalogue.
	if name, ok := strings.CutPrefix(key, "msg."); ok {
		if k, ok := templates.Lookup(name); ok {
			return k.LabelIn(lang)
		}
	}
	v, ok := uiText[key]
	if !ok {
		v, ok = merchantText[key]
	}
	if !ok {
		v, ok = inboxText[key]
	}
	if !ok {
		return key
	}
	if lang == "en" {
		return v[1]
	}
	return v[0]
}

// Reason explains a message's reason code ("frequency_cap", or
// "template_error: detail") in the page's language, keeping any detail.
func (p adminPage) Reason(r string) string {
	code, detail, _ := strings.Cut(r, ":")
	if v, ok := uiText["rs."+code]; ok {
		s := v[0]
		if p.Lang == "en" {
			s = v[1]
		}
		if detail != "" {
			s += ":" + detail
		}
		return s
	}
	return r
}
