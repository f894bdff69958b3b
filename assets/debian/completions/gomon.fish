# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_gomon_global_optspecs
    string join \n config= listen= state-dir= tls-cert= tls-key= plain-http web.config.file= interval= probe-dir= loki-url= log-format= log-level= h/help V/version
end

function __fish_gomon_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_gomon_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_gomon_using_subcommand
    set -l cmd (__fish_gomon_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c gomon -n "__fish_gomon_needs_command" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_needs_command" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_needs_command" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_needs_command" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_needs_command" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_needs_command" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_needs_command" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_needs_command" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_needs_command" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_needs_command" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_needs_command" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_needs_command" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_needs_command" -s V -l version -d 'Print version'
complete -c gomon -n "__fish_gomon_needs_command" -f -a "run" -d 'Run the collector (the default)'
complete -c gomon -n "__fish_gomon_needs_command" -f -a "config" -d 'Print the effective configuration (defaults, file and flags) as TOML'
complete -c gomon -n "__fish_gomon_needs_command" -f -a "probe" -d 'Work with probe modules'
complete -c gomon -n "__fish_gomon_needs_command" -f -a "plugin" -d 'The Grafana data source plugin'
complete -c gomon -n "__fish_gomon_needs_command" -f -a "man" -d 'Print the manual page (roff) on stdout: `gomon man | man -l -`; with --dir, write it and one page per subcommand (gomon-run.1, …) there'
complete -c gomon -n "__fish_gomon_needs_command" -f -a "completions" -d 'Print a shell completion script on stdout, e.g. `gomon completions bash > /etc/bash_completion.d/gomon`'
complete -c gomon -n "__fish_gomon_needs_command" -f -a "snapshot" -d 'Sample once and print the snapshot a probe receives, as JSON'
complete -c gomon -n "__fish_gomon_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gomon -n "__fish_gomon_using_subcommand run" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand run" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand run" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand run" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand run" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand run" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand run" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand run" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand run" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand run" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand run" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand run" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand config" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand config" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand config" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand config" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand config" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand config" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand config" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand config" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand config" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand config" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand config" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand config" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -f -a "check" -d 'Check a component against the probe contract: world, contract version, imports, exports and the grants it needs'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -f -a "list" -d 'List the probes a running gomon has loaded (asks its /api/probes)'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -f -a "new" -d 'Create a new Rust probe crate that builds to a component with `cargo build --release`'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and not __fish_seen_subcommand_from check list new help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l json -d 'Print the raw JSON'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l dir -d 'Where to create it (default: the current directory)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from new" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check a component against the probe contract: world, contract version, imports, exports and the grants it needs'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the probes a running gomon has loaded (asks its /api/probes)'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from help" -f -a "new" -d 'Create a new Rust probe crate that builds to a component with `cargo build --release`'
complete -c gomon -n "__fish_gomon_using_subcommand probe; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -f -a "package" -d 'Lay out the plugin directory as Grafana loads it: plugin.json, module.js, img/, README.md, LICENSE, CHANGELOG.md and this executable as <executable>_linux_<arch>; or, with --zip, the archive `grafana cli --pluginUrl FILE plugins install` installs (the executable stripped)'
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and not __fish_seen_subcommand_from package help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l zip -d 'Write a zip archive instead: one folder named after the plugin id' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l frontend -d 'The built frontend (`npm run build` in assets/plugin)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l force -d 'Write into DIR even if it is not empty, or over an existing FILE'
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from package" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from help" -f -a "package" -d 'Lay out the plugin directory as Grafana loads it: plugin.json, module.js, img/, README.md, LICENSE, CHANGELOG.md and this executable as <executable>_linux_<arch>; or, with --zip, the archive `grafana cli --pluginUrl FILE plugins install` installs (the executable stripped)'
complete -c gomon -n "__fish_gomon_using_subcommand plugin; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gomon -n "__fish_gomon_using_subcommand man" -l dir -d 'Write every page into this directory instead' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand man" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand man" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand man" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand man" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand man" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand man" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand man" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand man" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand man" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand man" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand man" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand man" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand completions" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l grants -d 'Show only what a probe with these grants sees (comma-separated: system, filesystems, disks, network, ...). Default: everything' -r
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l probe -d 'Show only what the named loaded or configured probe is granted' -r
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l config -d 'TOML configuration file (see `gomon config` for every key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l listen -d 'Address and port to serve on [default: 127.0.0.1:1234]' -r
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l state-dir -d 'State directory: TLS certificate, compiled-probe cache, probes' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l tls-cert -d 'PEM certificate to serve instead of the generated one (with --tls-key)' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l tls-key -d 'PEM private key of --tls-cert' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l web.config.file -d 'exporter-toolkit web configuration file (YAML: tls_server_config, http_server_config, basic_auth_users, rate_limit), as node_exporter\'s' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l interval -d 'Sampling interval, e.g. 15s, 1m [default: 15s]' -r
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l probe-dir -d 'Directory of operator probes (*.wasm) [default: <state-dir>/probes]' -r -F
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l loki-url -d 'Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or `off`. Without it: a Loki on localhost:3100 while it answers, else <state-dir>/observations/observations.ndjson' -r
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l log-level -d 'Log level filter (RUST_LOG syntax), e.g. info, gomon=debug' -r
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -l plain-http -d 'Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect)'
complete -c gomon -n "__fish_gomon_using_subcommand snapshot" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gomon -n "__fish_gomon_using_subcommand help; and not __fish_seen_subcommand_from run config probe plugin man completions snapshot help" -f -a "run" -d 'Run the collector (the default)'
complete -c gomon -n "__fish_gomon_using_subcommand help; and not __fish_seen_subcommand_from run config probe plugin man completions snapshot help" -f -a "config" -d 'Print the effective configuration (defaults, file and flags) as TOML'
complete -c gomon -n "__fish_gomon_using_subcommand help; and not __fish_seen_subcommand_from run config probe plugin man completions snapshot help" -f -a "probe" -d 'Work with probe modules'
complete -c gomon -n "__fish_gomon_using_subcommand help; and not __fish_seen_subcommand_from run config probe plugin man completions snapshot help" -f -a "plugin" -d 'The Grafana data source plugin'
complete -c gomon -n "__fish_gomon_using_subcommand help; and not __fish_seen_subcommand_from run config probe plugin man completions snapshot help" -f -a "man" -d 'Print the manual page (roff) on stdout: `gomon man | man -l -`; with --dir, write it and one page per subcommand (gomon-run.1, …) there'
complete -c gomon -n "__fish_gomon_using_subcommand help; and not __fish_seen_subcommand_from run config probe plugin man completions snapshot help" -f -a "completions" -d 'Print a shell completion script on stdout, e.g. `gomon completions bash > /etc/bash_completion.d/gomon`'
complete -c gomon -n "__fish_gomon_using_subcommand help; and not __fish_seen_subcommand_from run config probe plugin man completions snapshot help" -f -a "snapshot" -d 'Sample once and print the snapshot a probe receives, as JSON'
complete -c gomon -n "__fish_gomon_using_subcommand help; and not __fish_seen_subcommand_from run config probe plugin man completions snapshot help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gomon -n "__fish_gomon_using_subcommand help; and __fish_seen_subcommand_from probe" -f -a "check" -d 'Check a component against the probe contract: world, contract version, imports, exports and the grants it needs'
complete -c gomon -n "__fish_gomon_using_subcommand help; and __fish_seen_subcommand_from probe" -f -a "list" -d 'List the probes a running gomon has loaded (asks its /api/probes)'
complete -c gomon -n "__fish_gomon_using_subcommand help; and __fish_seen_subcommand_from probe" -f -a "new" -d 'Create a new Rust probe crate that builds to a component with `cargo build --release`'
complete -c gomon -n "__fish_gomon_using_subcommand help; and __fish_seen_subcommand_from plugin" -f -a "package" -d 'Lay out the plugin directory as Grafana loads it: plugin.json, module.js, img/, README.md, LICENSE, CHANGELOG.md and this executable as <executable>_linux_<arch>; or, with --zip, the archive `grafana cli --pluginUrl FILE plugins install` installs (the executable stripped)'
