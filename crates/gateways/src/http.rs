//! A request described as data: the crate signs, the caller's HTTP client sends.

/// HTTP method of a built request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

impl HttpMethod {
    /// `"GET"` / `"POST"`, as used in string-to-sign computations.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// A fully signed request: send exactly these bytes (the body is part of several signatures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: HttpMethod,
    /// Absolute URL including the query string.
    pub url: String,
    /// Header (name, value) pairs, in the order they were produced.
    pub headers: Vec<(String, String)>,
    /// The body; empty for GET.
    pub body: String,
}

impl HttpRequest {
    /// First header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
