pub mod hub_server;
pub mod redis_server;
