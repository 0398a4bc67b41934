//! farview's NX-style proxies. The near proxy is an RFB server for any viewer, the far proxy
//! an RFB client of any server; between them runs the link, farview's own framed protocol,
//! which carries moves as moves and tiles by content hash so that what crossed once never
//! crosses again.

pub mod link;
