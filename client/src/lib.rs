//! farview client
