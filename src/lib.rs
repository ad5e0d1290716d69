//! kilter: a declarative GitOps reconciler for CPU governors, node consolidation and
//! in-place pod resizes.
//!
//! A pure core — [`model`], [`syntax`] (parse, decode, print), [`check`], [`expr`], [`state`],
//! [`plan`], [`sim`] — takes values and returns values: no I/O, no clock, no environment.
//! The shell does the I/O: [`kube`] (the Kubernetes API), [`probe`] (sysfs and node probes),
//! [`sync`] (Git and directories), [`controller`] (the loop) and [`cli`].

pub mod check;
#[cfg(feature = "shell")]
pub mod cli;
#[cfg(feature = "shell")]
pub mod controller;
pub mod expr;
#[cfg(feature = "shell")]
pub mod kube;
pub mod lint;
pub mod model;
pub mod plan;
pub mod policytest;
#[cfg(feature = "shell")]
pub mod probe;
pub mod sim;
pub mod state;
#[cfg(feature = "shell")]
pub mod sync;
pub mod syntax;
