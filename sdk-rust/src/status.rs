use std::fmt;

/// The fixed ABI v1 status codes (spec §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    BadArgument = 2,
    SerializationFailure = 3,
    PermissionDenied = 4,
    Unavailable = 5,
    DeadlineExceeded = 6,
    ResourceExhausted = 7,
    Conflict = 8,
    Unimplemented = 9,
    Internal = 10,
}

impl Status {
    /// Maps a wire code to a status; unknown codes are `Internal`, as the spec requires.
    pub fn from_code(code: i32) -> Status {
        match code {
            0 => Status::Ok,
            1 => Status::NotFound,
            2 => Status::BadArgument,
            3 => Status::SerializationFailure,
            4 => Status::PermissionDenied,
            5 => Status::Unavailable,
            6 => Status::DeadlineExceeded,
            7 => Status::ResourceExhausted,
            8 => Status::Conflict,
            9 => Status::Unimplemented,
            _ => Status::Internal,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::NotFound => "NOT_FOUND",
            Status::BadArgument => "BAD_ARGUMENT",
            Status::SerializationFailure => "SERIALIZATION_FAILURE",
            Status::PermissionDenied => "PERMISSION_DENIED",
            Status::Unavailable => "UNAVAILABLE",
            Status::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Status::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Status::Conflict => "CONFLICT",
            Status::Unimplemented => "UNIMPLEMENTED",
            Status::Internal => "INTERNAL",
        }
    }
}

/// An error a plugin returns to the host: a status and a message for `larder_last_error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

impl Error {
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }
    pub fn bad_argument(message: impl Into<String>) -> Error {
        Error::new(Status::BadArgument, message)
    }
    pub fn serialization(message: impl Into<String>) -> Error {
        Error::new(Status::SerializationFailure, message)
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(Status::Internal, message)
    }
    pub fn unimplemented(message: impl Into<String>) -> Error {
        Error::new(Status::Unimplemented, message)
    }
    /// Prefixes the message with context, keeping the status.
    pub fn context(self, what: &str) -> Error {
        Error { status: self.status, message: format!("{}: {}", what, self.message) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for Error {}
