//! pi-health's Ops-Copilot: the built-in planner and the summaries it answers
//! with. (The web app, host stats and the optional language model follow.)

pub mod planner;
pub mod summary;
