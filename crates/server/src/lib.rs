//! murakumo-server
