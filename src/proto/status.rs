//! THE map from a protocol-level failure to its status code, for every engine
//! (HTTP/1.1 and HTTP/2 alike): malformed or oversized heads, deadlines, bodies
//! over the limit, refused methods. Failures found inside the application
//! (a missing file, a forbidden path) have the other map,
//! `handler::status::status_for`. Both are exhaustive, with no catch-all arm,
//! so a new failure forces a decision.

use http::StatusCode;

use super::h1::ParseError;
use crate::body::BodyError;

/// Why a protocol engine answers a request without asking the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A request head the HTTP/1 parser refused.
    Head(ParseError),
    /// A head or a request body that did not arrive within its deadline.
    Timeout,
    /// A request body larger than the limit.
    BodyTooLarge,
    /// A request body that broke off (an HTTP/2 stream error while reading it).
    BodyBroken,
    /// A method the server knows that no resource here supports (POST, PUT...).
    MethodNotAllowed,
    /// A method the server does not recognise at all.
    MethodUnknown,
    /// A request that names no host where one is needed to answer it.
    NoHost,
}

impl From<BodyError> for Failure {
    /// How a request body that a service was reading broke off.
    fn from(error: BodyError) -> Failure {
        match error {
            BodyError::TooLarge => Failure::BodyTooLarge,
            BodyError::Timeout => Failure::Timeout,
            BodyError::Broken | BodyError::Closed => Failure::BodyBroken,
        }
    }
}

/// The status code for `failure`.
pub fn status(failure: Failure) -> StatusCode {
    match failure {
        Failure::Head(error) => match error {
            ParseError::Malformed(_) => StatusCode::BAD_REQUEST,
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ParseError::UriTooLong => StatusCode::URI_TOO_LONG,
            ParseError::VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            ParseError::UnknownTransferCoding => StatusCode::NOT_IMPLEMENTED,
            ParseError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ParseError::UnknownExpectation => StatusCode::EXPECTATION_FAILED,
        },
        Failure::Timeout => StatusCode::REQUEST_TIMEOUT,
        Failure::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Failure::BodyBroken | Failure::NoHost => StatusCode::BAD_REQUEST,
        // RFC 9110 §15.5.6: known, but not for this resource (sent with Allow).
        Failure::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        // RFC 9110 §15.6.2: a method the server does not recognise.
        Failure::MethodUnknown => StatusCode::NOT_IMPLEMENTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            (Failure::Head(ParseError::Malformed("x")), 400),
            (Failure::Head(ParseError::HeadTooLarge), 431),
            (Failure::Head(ParseError::TooManyHeaders), 431),
            (Failure::Head(ParseError::UriTooLong), 414),
            (Failure::Head(ParseError::VersionNotSupported), 505),
            (Failure::Head(ParseError::UnknownTransferCoding), 501),
            (Failure::Head(ParseError::BodyTooLarge), 413),
            (Failure::Head(ParseError::UnknownExpectation), 417),
            (Failure::Timeout, 408),
            (Failure::BodyTooLarge, 413),
            (Failure::BodyBroken, 400),
            (Failure::MethodNotAllowed, 405),
            (Failure::MethodUnknown, 501),
            (Failure::NoHost, 400),
        ];
        for (failure, want) in cases {
            assert_eq!(status(failure).as_u16(), want, "{failure:?}");
        }
    }

    #[test]
    fn body_errors() {
        let cases = [
            (BodyError::TooLarge, 413),
            (BodyError::Timeout, 408),
            (BodyError::Broken, 400),
            (BodyError::Closed, 400),
        ];
        for (error, want) in cases {
            assert_eq!(status(Failure::from(error)).as_u16(), want, "{error:?}");
        }
    }
}
