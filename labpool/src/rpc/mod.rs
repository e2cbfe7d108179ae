//! Wire codecs: XML-RPC and JSON-RPC as XAPI speaks them.

pub mod jsonrpc;
pub mod xmlrpc;
