package core

import (
	"errors"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
)

// CheckSegmentRun decides whether a caller with role may count or sample
// segment n ad hoc. Every definition must be within the size and cost
// limits (segment.Cost); beyond segment.ViewerCost only admins may
// run it, so a read-only account cannot tie up the database.
func CheckSegmentRun(role string, n segment.Node) error {
	cost, err := segment.Cost(n)
	if err != nil {
		return SegmentError(err)
	}
	if cost > segment.ViewerCost && !RoleAllows(role, RoleAdmin) {
		return Errorf(EFORBIDDEN, "this segment is costly to count (cost %d, a viewer may run up to %d); ask an admin", cost, segment.ViewerCost)
	}
	return nil
}

// SegmentError turns the store's segment failures into domain errors: a
// definition over the limits is invalid, and so is one whose query ran past
// the segment timeout (the message says to narrow it).
func SegmentError(err error) error {
	switch {
	case errors.Is(err, segment.ErrInvalid), errors.Is(err, store.ErrSegmentTimeout):
		return Errorf(EINVALID, "%s", err.Error())
	}
	return err
}
