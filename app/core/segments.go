package core

import (
	"errors"

	"github.com/tsunagu/tsunagu/app/store"
)

// CheckSegmentRun decides whether a caller with role may count or sample
// segment n ad hoc. Every definition must be within the size and cost
// limits (store.SegmentCost); beyond store.ViewerSegmentCost only admins may
// run it, so a read-only account cannot tie up the database.
func CheckSegmentRun(role string, n store.SegmentNode) error {
	cost, err := store.SegmentCost(n)
	if err != nil {
		return SegmentError(err)
	}
	if cost > store.ViewerSegmentCost && !RoleAllows(role, RoleAdmin) {
		return Errorf(EFORBIDDEN, "this segment is costly to count (cost %d, a viewer may run up to %d); ask an admin", cost, store.ViewerSegmentCost)
	}
	return nil
}

// SegmentError turns the store's segment failures into domain errors: a
// definition over the limits is invalid, and so is one whose query ran past
// the segment timeout (the message says to narrow it).
func SegmentError(err error) error {
	switch {
	case errors.Is(err, store.ErrBadSegment), errors.Is(err, store.ErrSegmentTimeout):
		return Errorf(EINVALID, "%s", err.Error())
	}
	return err
}
