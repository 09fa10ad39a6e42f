//! accounts tests (see ../shared/design/API.md).

#[allow(unused_imports)]
use crate::helpers::*;
