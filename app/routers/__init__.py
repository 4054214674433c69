"""One router per resource; handlers call one decisioning function each."""
