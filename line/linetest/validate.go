package linetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/uuid"
)

// detail is one entry of LINE's error "details".
type detail struct {
	Message  string `json:"message"`
	Property string `json:"property,omitempty"`
}

// validator checks requests against LINE's OpenAPI document.
//
// kin-openapi only follows a discriminator inside oneOf/anyOf. LINE's
// document uses the other style: a base schema (Message, FlexContainer,
// FlexComponent, Action, ...) carries the discriminator mapping and each
// concrete schema is allOf[base, own properties]. Validated as is, a message
// would only be checked for having a "type". So after kin-openapi has checked
// the request, walk the body and validate every value whose schema has a
// discriminator against the mapped concrete schema as well.
type validator struct {
	doc *openapi3.T
}

func loadSpec(path string) (*validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validating %s: %w", path, err)
	}
	return &validator{doc: doc}, nil
}

// validate checks r (whose body is body) against the operation at
// specPath/method. It returns LINE-like error details, or nil when valid.
func (v *validator) validate(r *http.Request, body []byte, specPath string, pathParams map[string]string, excludeBody bool) []detail {
	item := v.doc.Paths.Find(specPath)
	if item == nil {
		return []detail{{Message: "operation not in LINE's OpenAPI document: " + specPath}}
	}
	op := item.GetOperation(r.Method)
	if op == nil {
		return []detail{{Message: "method not in LINE's OpenAPI document: " + r.Method + " " + specPath}}
	}
	if !excludeBody {
		body = dropOptionalNulls(op, body)
	}
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: pathParams,
		Route:      &routers.Route{Spec: v.doc, Path: specPath, PathItem: item, Method: r.Method, Operation: op},
		Options: &openapi3filter.Options{
			// The fake checks the bearer token itself.
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			ExcludeRequestBody: excludeBody,
			MultiError:         true,
		},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return errorDetails(err)
	}
	if excludeBody || op.RequestBody == nil || op.RequestBody.Value == nil || len(body) == 0 {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return []detail{{Message: "The request body could not be parsed as JSON"}}
	}
	var out []detail
	v.walk(mt.Schema.Value, doc, "", nil, &out)
	return dedupe(out)
}

// dropOptionalNulls removes top-level null values of optional properties.
// line-bot-sdk-go sends "customAggregationUnits": null on every push and
// multicast, and LINE accepts it (null reads as absent), although the
// document doesn't mark the property nullable. Nulls deeper down, and nulls
// for required properties, are still refused.
func dropOptionalNulls(op *openapi3.Operation, body []byte) []byte {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return body
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return body
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return body
	}
	changed := false
	for k, v := range obj {
		if string(v) == "null" && !slices.Contains(mt.Schema.Value.Required, k) {
			delete(obj, k)
			changed = true
		}
	}
	if !changed {
		return body
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return body
	}
	return out
}

// walkDiscriminators validates value against the concrete schema picked by
// every discriminator met on the way down. dispatched holds the concrete
// schemas already applied to this very value, to stop the allOf[base] cycle.
func (v *validator) walk(s *openapi3.Schema, value any, path string, dispatched []*openapi3.Schema, out *[]detail) {
	if s == nil || value == nil {
		return
	}
	if d := s.Discriminator; d != nil && len(d.Mapping) > 0 && len(s.OneOf) == 0 && len(s.AnyOf) == 0 {
		obj, ok := value.(map[string]any)
		if !ok {
			return // the type itself was checked by kin-openapi
		}
		tag, _ := obj[d.PropertyName].(string)
		ref, ok := d.Mapping[tag]
		target := v.resolve(ref)
		if !ok || target == nil {
			*out = append(*out, detail{Message: fmt.Sprintf("Invalid %s %q", d.PropertyName, tag), Property: join(path, d.PropertyName)})
			return
		}
		if !containsSchema(dispatched, target) {
			dispatched = append(dispatched, target)
			if err := target.VisitJSON(value, openapi3.MultiErrors()); err != nil {
				for _, dt := range errorDetails(err) {
					dt.Property = join(path, dt.Property)
					*out = append(*out, dt)
				}
				return
			}
			v.walk(target, value, path, dispatched, out)
			return
		}
	}
	for _, sub := range s.AllOf {
		v.walk(sub.Value, value, path, dispatched, out)
	}
	switch val := value.(type) {
	case map[string]any:
		for name, prop := range s.Properties {
			if pv, ok := val[name]; ok {
				// The parent's check already applied prop itself.
				v.walk(prop.Value, pv, join(path, name), []*openapi3.Schema{prop.Value}, out)
			}
		}
	case []any:
		if s.Items != nil {
			for i, el := range val {
				v.walk(s.Items.Value, el, path+"["+strconv.Itoa(i)+"]", []*openapi3.Schema{s.Items.Value}, out)
			}
		}
	}
}

// dedupe drops repeated details: a value reachable through both a concrete
// schema and its allOf base is reported once.
func dedupe(ds []detail) []detail {
	seen := make(map[detail]bool, len(ds))
	out := ds[:0]
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// resolve finds a discriminator mapping's schema. The loader leaves mapping
// refs unresolved outside oneOf/anyOf, so look them up in components.
func (v *validator) resolve(ref openapi3.MappingRef) *openapi3.Schema {
	if ref.Value != nil {
		return ref.Value
	}
	name, ok := strings.CutPrefix(ref.Ref, "#/components/schemas/")
	if !ok {
		name = ref.Ref // a bare schema name is allowed too
	}
	if sr := v.doc.Components.Schemas[name]; sr != nil {
		return sr.Value
	}
	return nil
}

func containsSchema(list []*openapi3.Schema, s *openapi3.Schema) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func join(path, prop string) string {
	switch {
	case path == "":
		return prop
	case prop == "":
		return path
	case strings.HasPrefix(prop, "["):
		return path + prop
	default:
		return path + "." + prop
	}
}

// errorDetails flattens kin-openapi's errors into LINE's details, with
// properties written the way LINE writes them ("messages[0].altText").
func errorDetails(err error) []detail {
	var multi openapi3.MultiError
	if errors.As(err, &multi) {
		var out []detail
		for _, e := range multi {
			out = append(out, errorDetails(e)...)
		}
		return out
	}
	var reqErr *openapi3filter.RequestError
	if errors.As(err, &reqErr) && reqErr.Err != nil {
		if errors.As(reqErr.Err, &multi) {
			return errorDetails(multi)
		}
		var se *openapi3.SchemaError
		if errors.As(reqErr.Err, &se) {
			d := schemaDetail(se)
			if reqErr.Parameter != nil {
				d.Property = reqErr.Parameter.Name
			}
			return []detail{d}
		}
		prop := ""
		if reqErr.Parameter != nil {
			prop = reqErr.Parameter.Name
		}
		return []detail{{Message: reqErr.Err.Error(), Property: prop}}
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return []detail{schemaDetail(se)}
	}
	return []detail{{Message: err.Error()}}
}

func schemaDetail(se *openapi3.SchemaError) detail {
	var b strings.Builder
	for _, p := range se.JSONPointer() {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteString(".")
		}
		b.WriteString(p)
	}
	msg := se.Reason
	if msg == "" {
		msg = se.Error()
	}
	return detail{Message: msg, Property: b.String()}
}

// The LINE limits below are documented in the Messaging API reference but
// not expressed in the OpenAPI document, so they are checked by hand.
const (
	maxTextLength    = 5000
	maxAltTextLength = 1500
	maxMessages      = 5
	maxMulticastTo   = 500
)

var recipientRE = regexp.MustCompile(`^[UCR][0-9a-f]{32}$`)

// checkSend adds LINE's documented limits for push and multicast bodies.
func checkSend(body []byte, multicast bool) []detail {
	var req struct {
		To       json.RawMessage   `json:"to"`
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return []detail{{Message: "The request body could not be parsed as JSON"}}
	}
	var out []detail
	if multicast {
		var to []string
		if json.Unmarshal(req.To, &to) == nil {
			if len(to) > maxMulticastTo {
				out = append(out, detail{Message: fmt.Sprintf("Size must be between 1 and %d", maxMulticastTo), Property: "to"})
			}
			for i, id := range to {
				if !recipientRE.MatchString(id) {
					out = append(out, detail{Message: "Invalid user ID", Property: fmt.Sprintf("to[%d]", i)})
				}
			}
		}
	} else {
		var to string
		if json.Unmarshal(req.To, &to) == nil && !recipientRE.MatchString(to) {
			out = append(out, detail{Message: "The property, 'to', in the request body is invalid (line-user-id, group-id or room-id expected)", Property: "to"})
		}
	}
	if len(req.Messages) > maxMessages {
		out = append(out, detail{Message: fmt.Sprintf("Size must be between 1 and %d", maxMessages), Property: "messages"})
	}
	for i, m := range req.Messages {
		out = append(out, checkMessage(m, fmt.Sprintf("messages[%d]", i))...)
	}
	return out
}

func checkMessage(raw json.RawMessage, prop string) []detail {
	var m struct {
		Type     string `json:"type"`
		Text     *string
		AltText  *string `json:"altText"`
		Contents *struct {
			Type string `json:"type"`
		} `json:"contents"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return nil // shape errors are reported by the schema check
	}
	var out []detail
	switch m.Type {
	case "text":
		if m.Text != nil {
			if *m.Text == "" {
				out = append(out, detail{Message: "May not be empty", Property: prop + ".text"})
			} else if n := utf8.RuneCountInString(*m.Text); n > maxTextLength {
				out = append(out, detail{Message: fmt.Sprintf("Length must be between 0 and %d", maxTextLength), Property: prop + ".text"})
			}
		}
	case "flex":
		if m.AltText != nil {
			if *m.AltText == "" {
				out = append(out, detail{Message: "May not be empty", Property: prop + ".altText"})
			} else if n := utf8.RuneCountInString(*m.AltText); n > maxAltTextLength {
				out = append(out, detail{Message: fmt.Sprintf("Length must be between 0 and %d", maxAltTextLength), Property: prop + ".altText"})
			}
		}
		if m.Contents != nil && m.Contents.Type != "bubble" && m.Contents.Type != "carousel" {
			out = append(out, detail{Message: "Must be one of the following values: [bubble, carousel]", Property: prop + ".contents.type"})
		}
	}
	return out
}

// validRetryKey reports whether k is a UUID in the hexadecimal form LINE
// requires (kin-openapi does not check format: uuid unless a global format
// table is changed, which a test helper must not do).
func validRetryKey(k string) bool {
	if len(k) != 36 {
		return false
	}
	_, err := uuid.Parse(k)
	return err == nil
}
