//! The one integration-test binary: real servers on 127.0.0.1:0, real sockets;
//! and the handler alone, called in memory (`pipeline`).

mod support;

mod acme;
mod archive;
mod browser;
mod caching;
mod cli;
mod compress;
mod config;
mod dev;
mod files;
mod h1;
mod h2;
mod hash_password;
mod layering;
mod lifecycle;
mod operate;
mod ops;
mod pipeline;
mod proxy;
mod readme;
mod routes;
mod sites;
mod tls;
mod upload;
mod usage;
