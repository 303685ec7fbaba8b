//! The planner's rules, case by case (the corpus test measures them at scale).

use super::*;

fn stack() -> Vec<String> {
    [
        "sonarr", "radarr", "sabnzbd", "prowlarr", "jellyfin", "bazarr",
    ]
    .map(String::from)
    .to_vec()
}

fn named(service: &str) -> Named {
    Named {
        service: service.into(),
        typed: None,
    }
}

fn question(message: &str) -> Question {
    match plan(message, &stack()) {
        Intent::Question(read) => read,
        Intent::Order(order) => panic!("{message:?} planned as an order: {order:?}"),
    }
}

fn order(message: &str) -> Order {
    match plan(message, &stack()) {
        Intent::Order(order) => order,
        Intent::Question(read) => panic!("{message:?} planned as a read: {read:?}"),
    }
}

#[test]
fn questions_are_reads_even_with_words_of_action() {
    for message in [
        "is jellyfin down?",
        "did sonarr stop?",
        "is radarr killed",
        "jellyfin down?",
        "restart sonarr?",
        "I wonder if I should restart sonarr",
        "why did you stop jellyfin",
        "don't restart sonarr",
        "how do I stop a container?",
        "please don't restart sonarr",
        "can I restart sonarr?",
    ] {
        question(message);
    }
    assert_eq!(
        question("is jellyfin down?"),
        Question::ServiceStatus {
            services: vec![named("jellyfin")]
        }
    );
}

#[test]
fn orders_plain_polite_terse_and_phrasal() {
    let restart = |services: &[&str]| Order::Services {
        action: Action::Restart,
        services: services.iter().map(|s| s.to_string()).collect(),
        missing: vec![],
    };
    assert_eq!(order("restart sonarr"), restart(&["sonarr"]));
    assert_eq!(order("can you restart sonarr?"), restart(&["sonarr"]));
    assert_eq!(order("sonarr restart"), restart(&["sonarr"]));
    assert_eq!(
        order("Sonarr queue looks stuck, can you restart it?"),
        restart(&["sonarr"])
    );
    assert_eq!(
        order("please restart sonarr, radarr and bazarr"),
        restart(&["sonarr", "radarr", "bazarr"])
    );
    assert_eq!(
        order("take jellyfin down"),
        Order::Services {
            action: Action::Stop,
            services: vec!["jellyfin".into()],
            missing: vec![]
        }
    );
    assert_eq!(
        order("kill bazarr"),
        Order::Services {
            action: Action::Stop,
            services: vec!["bazarr".into()],
            missing: vec![]
        }
    );
    assert_eq!(
        order("turn radarr back on"),
        Order::Services {
            action: Action::Start,
            services: vec!["radarr".into()],
            missing: vec![]
        }
    );
    assert_eq!(
        order("restart everything"),
        Order::Everything {
            action: Action::Restart
        }
    );
    assert_eq!(
        order("shut it all down"),
        Order::Everything {
            action: Action::Stop
        }
    );
    assert_eq!(
        order("restart it"),
        Order::Which {
            action: Action::Restart
        }
    );
    for machine in [
        "reboot the pi",
        "restart the raspberry pi",
        "please restart the server",
    ] {
        assert_eq!(
            order(machine),
            Order::TheHost {
                action: Action::Restart
            },
            "{machine}"
        );
    }
    assert!(matches!(
        order("restart pihole"),
        Order::NoSuchService { .. }
    ));
}

#[test]
fn unknown_names_are_named_and_near_misses_suggested() {
    assert_eq!(
        question("is plex running?"),
        Question::NoSuchService {
            name: NoSuchService {
                typed: "plex".into(),
                near: None
            }
        }
    );
    // In an order a near miss is asked about, never acted on.
    assert_eq!(
        order("restart radar"),
        Order::NoSuchService {
            action: Action::Restart,
            name: NoSuchService {
                typed: "radar".into(),
                near: Some("radarr".into())
            }
        }
    );
    // In a read it is taken, and the answer says so.
    assert_eq!(
        question("radar logs"),
        Question::Logs {
            services: vec![Named {
                service: "radarr".into(),
                typed: Some("radar".into())
            }]
        }
    );
    assert_eq!(
        order("restart sonarr; rm -rf /"),
        Order::Services {
            action: Action::Restart,
            services: vec!["sonarr".into()],
            missing: vec![]
        },
        "only declared names are taken, never the rest of the text"
    );
    assert_eq!(
        order("restart sonarrx"),
        Order::NoSuchService {
            action: Action::Restart,
            name: NoSuchService {
                typed: "sonarrx".into(),
                near: Some("sonarr".into())
            }
        },
        "a service is matched whole, not as a substring"
    );
}

#[test]
fn names_listed_beside_services_that_the_stack_lacks_are_said_not_dropped() {
    let missing = |order: Order| match order {
        Order::Services {
            services, missing, ..
        } => (
            services,
            missing.into_iter().map(|m| m.typed).collect::<Vec<_>>(),
        ),
        other => panic!("not services: {other:?}"),
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        missing(order("restart plex and sonarr")),
        (strings(&["sonarr"]), strings(&["plex"]))
    );
    assert_eq!(
        missing(order("restart sonarr, plex")),
        (strings(&["sonarr"]), strings(&["plex"]))
    );
    assert_eq!(
        missing(order("please restart plex and emby and radarr")),
        (strings(&["radarr"]), strings(&["plex", "emby"]))
    );
    // Words that are not in a list of names are not taken for one.
    assert_eq!(
        missing(order("restart sonarr quickly")),
        (strings(&["sonarr"]), strings(&[]))
    );
    assert_eq!(
        missing(order("restart sonarr, it looks stuck")),
        (strings(&["sonarr"]), strings(&[]))
    );
}

#[test]
fn misspelled_commands_are_understood() {
    assert_eq!(question("chekc dokcer stauts"), Question::Overview);
    assert_eq!(question("lsit containers"), Question::Overview);
    assert_eq!(
        order("restrat radarr"),
        Order::Services {
            action: Action::Restart,
            services: vec!["radarr".into()],
            missing: vec![]
        }
    );
}

#[test]
fn reads_by_what_they_ask() {
    assert_eq!(
        question("why is prowlarr unhealthy?"),
        Question::Diagnose {
            services: vec![named("prowlarr")]
        }
    );
    assert_eq!(
        question("fix prowlarr"),
        Question::Diagnose {
            services: vec![named("prowlarr")]
        }
    );
    assert_eq!(
        question("show me errors in sonarr"),
        Question::Diagnose {
            services: vec![named("sonarr")]
        }
    );
    assert_eq!(question("what's wrong?"), Question::DiagnoseAll);
    assert_eq!(question("is everything ok?"), Question::DiagnoseAll);
    assert_eq!(question("what's up and what's down?"), Question::Overview);
    assert_eq!(
        question("what did you do today?"),
        Question::History { services: vec![] }
    );
    assert_eq!(
        question("who restarted sonarr?"),
        Question::History {
            services: vec![named("sonarr")]
        }
    );
    assert_eq!(question("how hot is the pi"), Question::SystemHealth);
    assert_eq!(question("hello"), Question::Help);
    assert_eq!(question("asdfghjkl"), Question::Help);
}

#[test]
fn labels_services_and_extra_say_what_was_planned() {
    let s = stack();
    let restart = plan("restart sonarr and radarr", &s);
    assert_eq!(
        (restart.label(), restart.services(), restart.extra()),
        (
            "action",
            vec!["sonarr".into(), "radarr".into()],
            "restart".into()
        )
    );
    let near = plan("stop jellyfn", &s);
    assert_eq!(
        (near.label(), near.services(), near.extra()),
        ("unknown_service", vec!["jellyfn".into()], "jellyfin".into())
    );
}

#[test]
fn actions_map_to_tools_and_labels() {
    assert_eq!(Action::Restart.tool(), "compose_restart");
    assert_eq!(Action::Restart.cta_label(), "Approve Restart");
    assert_eq!(Action::Stop.tool(), "compose_stop");
    assert_eq!(Action::Start.cta_label(), "Approve Start");
    assert_eq!(Action::Stop.verb(), "stop");
}

#[test]
fn updates_are_asked_about_and_ordered() {
    for message in [
        "any updates?",
        "check for updates",
        "are my images up to date?",
        "can I upgrade jellyfin?",
        "is there a new version of sonarr?",
    ] {
        assert!(
            matches!(question(message), Question::Updates { .. }),
            "{message}: {:?}",
            question(message)
        );
    }
    assert_eq!(
        question("is there a new version of sonarr?"),
        Question::Updates {
            services: vec![named("sonarr")]
        }
    );
    assert_eq!(
        order("update sonarr"),
        Order::Services {
            action: Action::Update,
            services: vec!["sonarr".into()],
            missing: Vec::new()
        }
    );
    assert_eq!(
        order("please upgrade radarr and bazarr"),
        Order::Services {
            action: Action::Update,
            services: vec!["radarr".into(), "bazarr".into()],
            missing: Vec::new()
        }
    );
    assert_eq!(
        order("update everything"),
        Order::Everything {
            action: Action::Update
        }
    );
}
