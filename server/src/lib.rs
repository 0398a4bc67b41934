//! farview server
