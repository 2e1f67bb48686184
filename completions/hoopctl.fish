function __hoopctl_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __hoopctl_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __hoopctl_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __hoopctl_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __hoopctl_parse_tokens -S
    set -l unparsed_tokens (__hoopctl_tokens -pc)
    switch $unparsed_tokens[1]
    case 'hoopctl'
        __hoopctl_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'sandbox'
            __hoopctl_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'up'
                __hoopctl_parse_subcommand 0 'version' 'h/help'
            case 'down'
                __hoopctl_parse_subcommand 0 'purge' 'version' 'h/help'
            case 'status'
                __hoopctl_parse_subcommand 0 'json' 'version' 'h/help'
            case 'env'
                __hoopctl_parse_subcommand 0 'version' 'h/help'
            case 'store'
                __hoopctl_parse_subcommand 0 'name=' 'version' 'h/help'
            end
        case 'serve'
            __hoopctl_parse_subcommand 0 'config=' 'proxy-port=' 'ledger-sync=' 'store-dsn-file=' 'listen=' 'proxy-listen=' 'tls-cert=' 'tls-key=' 'public-host=' 'log-level=' 'version' 'h/help'
        case 'exec'
            __hoopctl_parse_subcommand -r 2 'role=' 'reason=' 'ttl=' 'request=' 'wait=' 'no-wait' 'quiet' 'pass-token' 'correlation-id=' 'token-file=' 'broker=' 'version' 'h/help'
        case 'connect'
            __hoopctl_parse_subcommand 1 'role=' 'reason=' 'ttl=' 'request=' 'wait=' 'no-wait' 'quiet' 'pass-token' 'correlation-id=' 'token-file=' 'broker=' 'client=' 'version' 'h/help'
        case 'sessions'
            __hoopctl_parse_subcommand 0 'active' 'json' 'token-file=' 'broker=' 'version' 'h/help'
        case 'revoke'
            __hoopctl_parse_subcommand 1 'token-file=' 'broker=' 'version' 'h/help'
        case 'request'
            __hoopctl_parse_subcommand 1 'role=' 'reason=' 'ttl=' 'json' 'token-file=' 'broker=' 'version' 'h/help'
        case 'requests'
            __hoopctl_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'list'
                __hoopctl_parse_subcommand 0 'pending' 'mine' 'all' 'json' 'token-file=' 'broker=' 'version' 'h/help'
            case 'show'
                __hoopctl_parse_subcommand 1 'json' 'token-file=' 'broker=' 'version' 'h/help'
            end
        case 'approve'
            __hoopctl_parse_subcommand 1 'comment=' 'token-file=' 'broker=' 'version' 'h/help'
        case 'deny'
            __hoopctl_parse_subcommand 1 'reason=' 'token-file=' 'broker=' 'version' 'h/help'
        case 'token'
            __hoopctl_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'issue'
                __hoopctl_parse_subcommand 0 'subject=' 'ttl=' 'json' 'token-file=' 'broker=' 'version' 'h/help'
            case 'revoke'
                __hoopctl_parse_subcommand 1 'token-file=' 'broker=' 'version' 'h/help'
            case 'list'
                __hoopctl_parse_subcommand 0 'json' 'token-file=' 'broker=' 'version' 'h/help'
            end
        case 'whoami'
            __hoopctl_parse_subcommand 0 'json' 'token-file=' 'broker=' 'version' 'h/help'
        case 'login'
            __hoopctl_parse_subcommand 1 'ca-file=' 'browser' 'version' 'h/help'
        case 'logout'
            __hoopctl_parse_subcommand 1 'version' 'h/help'
        case 'mcp'
            __hoopctl_parse_subcommand 1 'role=' 'reason=' 'ttl=' 'correlation-id=' 'token-file=' 'broker=' 'version' 'h/help'
        case 'target'
            __hoopctl_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'init'
                __hoopctl_parse_subcommand 1 'json' 'token-file=' 'broker=' 'version' 'h/help'
            case 'doctor'
                __hoopctl_parse_subcommand 1 'json' 'token-file=' 'broker=' 'version' 'h/help'
            end
        case 'policy'
            __hoopctl_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'check'
                __hoopctl_parse_subcommand 1 'json' 'version' 'h/help'
            case 'explain'
                __hoopctl_parse_subcommand 0 'target=' 'sql=' 'file=' 'user=' 'role=' 'policy=' 'json' 'version' 'h/help'
            case 'reload'
                __hoopctl_parse_subcommand 0 'token-file=' 'broker=' 'version' 'h/help'
            end
        case 'audit'
            __hoopctl_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'log'
                __hoopctl_parse_subcommand 0 'since=' 'until=' 'user=' 'target=' 'session=' 'correlation-id=' 'kind=+' 'limit=' 'json' 'follow' 'after=' 'csv' 'ledger=' 'store-dsn-file=' 'token-file=' 'broker=' 'version' 'h/help'
            case 'replay'
                __hoopctl_parse_subcommand 1 'reveal' 'key=' 'reason=' 'passphrase-file=' 'json' 'ledger=' 'store-dsn-file=' 'token-file=' 'broker=' 'version' 'h/help'
            case 'trace'
                __hoopctl_parse_subcommand 1 'since=' 'target=' 'by=' 'json' 'ledger=' 'store-dsn-file=' 'token-file=' 'broker=' 'version' 'h/help'
            case 'report'
                __hoopctl_parse_subcommand 0 'since=' 'format=' 'ledger=' 'store-dsn-file=' 'token-file=' 'broker=' 'version' 'h/help'
            case 'verify'
                __hoopctl_parse_subcommand 0 'json' 'ledger=' 'store-dsn-file=' 'token-file=' 'broker=' 'version' 'h/help'
            case 'checkpoint'
                __hoopctl_parse_subcommand 0 'token-file=' 'broker=' 'version' 'h/help'
            case 'keygen'
                __hoopctl_parse_subcommand 0 'out=' 'passphrase-file=' 'no-passphrase' 'version' 'h/help'
            end
        case 'store'
            __hoopctl_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'init'
                __hoopctl_parse_subcommand 0 'dsn-file=' 'broker-role=' 'version' 'h/help'
            case 'migrate'
                __hoopctl_parse_subcommand 0 'dsn-file=' 'from=' 'version' 'h/help'
            end
        case 'help'
            __hoopctl_parse_subcommand -r 1 'version'
        end
    end
end

function __hoopctl_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __hoopctl_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __hoopctl_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __hoopctl_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__hoopctl_tokens -p)
    if test -z "$(__hoopctl_tokens -t)"
        set -l index (count (__hoopctl_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'hoopctl' -f
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'sandbox' -d 'Run a throwaway local PostgreSQL with demo data and a demo policy.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'serve' -d 'Run the broker: the only process that holds the policy, the ledger and the admin connections.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'exec' -d 'Run a command with a short-lived database role of its own.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'connect' -d 'Open an interactive client (psql by default) on a target, with a short-lived masked role.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'sessions' -d 'List your sessions (admins: everyone\'s), active and ended in the last day.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'revoke' -d 'End a session now: its connections are cut and its role dropped (its owner or an admin).'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'request' -d 'Ask reviewers for a role that needs approval.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'requests' -d 'List requests, or show one.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'approve' -d 'Approve a request (reviewers named by the policy; never your own, unless the policy allows it).'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'deny' -d 'Deny a request; the requester sees your reason.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'token' -d 'Issue and revoke broker-signed tokens: identities for services, agents and people not on this machine (admins).'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'whoami' -d 'Show who the broker thinks you are, and what you may use.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'login' -d 'Sign in to a remote broker with its identity provider.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'logout' -d 'Sign out of a remote broker: the provider revokes the sign-in, and hoopctl forgets it.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'mcp' -d 'Serve an AI agent: a Model Context Protocol server on stdio with a governed session on TARGET.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'target' -d 'Prepare a target database for masked sessions, and check it.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'policy' -d 'Check the policy file, explain its guardrails\' decisions, or have the broker reload it.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'audit' -d 'Read and verify the tamper-evident ledger.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'store' -d 'Set up the PostgreSQL control store that several brokers share, or move a SQLite ledger into it.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl sandbox" -eq 1' -fa 'up' -d 'Create and start the sandbox and its broker (idempotent); prints what it did.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl sandbox" -eq 1' -fa 'down' -d 'Stop the sandbox\'s broker and PostgreSQL.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl sandbox" -eq 1' -fa 'status' -d 'Say what runs where.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl sandbox" -eq 1' -fa 'env' -d 'Print shell exports that point hoopctl, and psql as the sandbox admin, at the sandbox.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl sandbox" -eq 1' -fa 'store' -d 'Make a PostgreSQL control store in the sandbox\'s cluster, for trying several brokers on one machine.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox up" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox up" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox down" purge' -l 'purge' -d 'Also delete the cluster, its data and the sandbox\'s files (the ledger is kept).'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox down" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox down" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox status" json' -l 'json' -d 'Print one JSON object.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox status" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox env" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox env" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox store" name' -l 'name' -d 'The database\'s name (its roles are NAME_owner and NAME_broker).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox store" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sandbox store" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" config' -l 'config' -d 'The policy file (default: $HOOPCTL_POLICY, else $HOOPCTL_HOME/policy.yaml).' -rfa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" proxy-port' -l 'proxy-port' -d 'The guard proxy\'s TCP port on 127.0.0.1 (default: chosen once, kept in $HOOPCTL_HOME/proxy.port).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" ledger-sync' -l 'ledger-sync' -d 'When ledger records reach the disk: \'batched\' (default) within 20 ms, without slowing statements; \'full\' before each statement runs (an fsync each). Either way a record is committed before its statement runs.' -rfka 'full batched'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" store-dsn-file' -l 'store-dsn-file' -d 'Keep the ledger in a PostgreSQL control store shared with other brokers (a file holding its libpq connection string, mode 0600; TLS as its sslmode says) instead of $HOOPCTL_HOME\'s SQLite file. Made by \'hoopctl store init\'.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" listen' -l 'listen' -d 'Serve the broker\'s API to the network over TLS at this address (e.g. 0.0.0.0:8443).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" proxy-listen' -l 'proxy-listen' -d 'Serve the guard proxy to the network over TLS at this address (e.g. 0.0.0.0:6432).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" tls-cert' -l 'tls-cert' -d 'The network listeners\' certificate chain (PEM).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" tls-key' -l 'tls-key' -d 'The certificate\'s private key (PEM, readable by the broker only).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" public-host' -l 'public-host' -d 'The name clients reach the broker by, which the certificate holds (default: the --listen host). Remote sessions connect to it with sslmode=verify-full.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" log-level' -l 'log-level' -d 'Log level: trace, debug, info, notice, warning, error or critical.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl serve" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" role' -l 'role' -d 'The role to use (default: your only role, or the first that needs no approval).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" reason' -l 'reason' -d 'Why you need access; kept in the ledger, and shown to reviewers.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" ttl' -l 'ttl' -d 'How long the session may live, up to the role\'s max_ttl (default: its default_ttl).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" request' -l 'request' -d 'Use this approved request (an id or a prefix of one).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" wait' -l 'wait' -d 'How long to wait for an approval before giving up (the request stays pending).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" no-wait' -l 'no-wait' -d 'Do not wait for an approval: print the request id and exit 75.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" quiet' -l 'quiet' -d 'Do not print the session line on standard error.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" pass-token' -l 'pass-token' -d 'Hand the command your broker token as $HOOPCTL_TOKEN. By default the command gets a database session and nothing of your identity: $HOOPCTL_TOKEN is removed from its environment.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" correlation-id' -l 'correlation-id' -d 'Groups the sessions of one job in the ledger (default: $HOOPCTL_CORRELATION_ID, which the command inherits).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl exec" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" role' -l 'role' -d 'The role to use (default: your only role, or the first that needs no approval).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" reason' -l 'reason' -d 'Why you need access; kept in the ledger, and shown to reviewers.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" ttl' -l 'ttl' -d 'How long the session may live, up to the role\'s max_ttl (default: its default_ttl).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" request' -l 'request' -d 'Use this approved request (an id or a prefix of one).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" wait' -l 'wait' -d 'How long to wait for an approval before giving up (the request stays pending).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" no-wait' -l 'no-wait' -d 'Do not wait for an approval: print the request id and exit 75.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" quiet' -l 'quiet' -d 'Do not print the session line on standard error.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" pass-token' -l 'pass-token' -d 'Hand the command your broker token as $HOOPCTL_TOKEN. By default the command gets a database session and nothing of your identity: $HOOPCTL_TOKEN is removed from its environment.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" correlation-id' -l 'correlation-id' -d 'Groups the sessions of one job in the ledger (default: $HOOPCTL_CORRELATION_ID, which the command inherits).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" client' -l 'client' -d 'The client program to run (psql, pgcli, or any program that reads the PG* variables).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl connect" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sessions" active' -l 'active' -d 'Only active sessions.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sessions" json' -l 'json' -d 'One JSON object per line.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sessions" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sessions" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sessions" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl sessions" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl revoke" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl revoke" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl revoke" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl revoke" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl request" role' -l 'role' -d 'The role.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl request" reason' -l 'reason' -d 'Why you need it, for the reviewers and the ledger.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl request" ttl' -l 'ttl' -d 'How long the session may live (default: the role\'s default_ttl).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl request" json' -l 'json' -d 'Print the request as one JSON object.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl request" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl request" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl request" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl request" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl requests" -eq 1' -fa 'list' -d 'Requests that wait for you or on you (the default), yours, or all you may see.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl requests" -eq 1' -fa 'show' -d 'Show one request with its votes.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests list" pending' -l 'pending' -d 'Which requests.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests list" mine' -l 'mine' -d 'Which requests.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests list" all' -l 'all' -d 'Which requests.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests list" json' -l 'json' -d 'One JSON object per line.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests list" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests list" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests list" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests show" json' -l 'json' -d 'Print one JSON object.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests show" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests show" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests show" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl requests show" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl approve" comment' -l 'comment' -d 'A note for the ledger and the requester.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl approve" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl approve" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl approve" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl approve" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl deny" reason' -l 'reason' -d 'Why (required).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl deny" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl deny" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl deny" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl deny" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl token" -eq 1' -fa 'issue' -d 'Issue a token; prints it once, on standard output.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl token" -eq 1' -fa 'revoke' -d 'Revoke a token now.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl token" -eq 1' -fa 'list' -d 'List the tokens issued in the last 30 days.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token issue" subject' -l 'subject' -d 'Who the token speaks for: user:NAME or service:NAME.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token issue" ttl' -l 'ttl' -d 'How long it is valid (at most 30d).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token issue" json' -l 'json' -d 'Print one JSON object (with the token).'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token issue" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token issue" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token issue" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token issue" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token revoke" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token revoke" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token revoke" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token revoke" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token list" json' -l 'json' -d 'One JSON object per line.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token list" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token list" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token list" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl token list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl whoami" json' -l 'json' -d 'Print one JSON object.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl whoami" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl whoami" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl whoami" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl whoami" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl login" ca-file' -l 'ca-file' -d 'The CA that signed the broker\'s certificate (PEM), if not one the system trusts.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl login" browser' -l 'browser' -d 'Sign in in a browser on this machine ($BROWSER, else xdg-open) instead of with a code.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl login" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl login" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl logout" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl logout" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl mcp" role' -l 'role' -d 'The role to use (default: your only role, or the first that needs no approval).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl mcp" reason' -l 'reason' -d 'Why the agent needs access; kept in the ledger.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl mcp" ttl' -l 'ttl' -d 'How long the session may live, up to the role\'s max_ttl.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl mcp" correlation-id' -l 'correlation-id' -d 'Groups the sessions of one job in the ledger (default: $HOOPCTL_CORRELATION_ID, which the command inherits).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl mcp" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl mcp" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl mcp" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl mcp" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl target" -eq 1' -fa 'init' -d 'Install the masking views of the current policy (admins).'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl target" -eq 1' -fa 'doctor' -d 'List what would let a session get around masking or guardrails (admins).'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target init" json' -l 'json' -d 'Print one JSON object.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target init" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target init" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target init" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target init" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target doctor" json' -l 'json' -d 'Print one JSON object.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target doctor" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target doctor" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target doctor" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl target doctor" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl policy" -eq 1' -fa 'check' -d 'Report every problem of a policy file as FILE:LINE:COL: error: MESSAGE.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl policy" -eq 1' -fa 'explain' -d 'Say what the guard proxy would decide for SQL, and why, without touching a database.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl policy" -eq 1' -fa 'reload' -d 'Make the broker load its policy file again (admins); a broken file is rejected whole.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl policy check" -eq 1' -fa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy check" json' -l 'json' -d 'Print one JSON object: the diagnostics and, when valid, the summary.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy check" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy check" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy explain" target' -l 'target' -d 'The target whose guardrails apply.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy explain" sql' -l 'sql' -d 'The SQL: one or more statements (it may begin with --).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy explain" file' -l 'file' -d 'Read the SQL from this file (\'-\' for standard input) instead of --sql.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy explain" user' -l 'user' -d 'Also check that this identity (bob, user:bob, service:job) may use the target (and --role).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy explain" role' -l 'role' -d 'Also check that the role exists on the target (and that --user may use it).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy explain" policy' -l 'policy' -d 'The policy file (default: $HOOPCTL_POLICY, else $HOOPCTL_HOME/policy.yaml).' -rfa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy explain" json' -l 'json' -d 'Print one JSON object: the decision and each statement\'s.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy explain" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy explain" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy reload" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy reload" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy reload" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl policy reload" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl audit" -eq 1' -fa 'log' -d 'List ledger records (the default \'audit\' command).'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl audit" -eq 1' -fa 'replay' -d 'A session as a timeline: connect, each statement with its values (masked), outcome, reviews, the end.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl audit" -eq 1' -fa 'trace' -d 'Who read or wrote a table or a column: identities, sessions, jobs, statements, masked or in clear.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl audit" -eq 1' -fa 'report' -d 'A compliance report for a period: access, approvals, sensitive columns, refused statements, ledger integrity.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl audit" -eq 1' -fa 'verify' -d 'Recompute the ledger\'s hash chain and name the first record that breaks it.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl audit" -eq 1' -fa 'checkpoint' -d 'Sign the ledger\'s head now and keep it in each target database (the broker does it every 10 seconds).'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl audit" -eq 1' -fa 'keygen' -d 'Write an auditor key pair: statement values are sealed to its public half.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" since' -l 'since' -d 'Records at or after this time.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" until' -l 'until' -d 'Records before this time.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" user' -l 'user' -d 'Records of this identity: a user name, or a principal like service:bot.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" target' -l 'target' -d 'Records about this target.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" session' -l 'session' -d 'Records of this session.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" correlation-id' -l 'correlation-id' -d 'Records of the sessions of this job (exec --correlation-id), session by session.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log"' -l 'kind' -d 'Records of this kind (repeatable): identity, session, credential, request, decision, statement, result, event.' -rfka 'identity session credential request decision statement result event'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" limit' -l 'limit' -d 'Only the newest N records.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" json' -l 'json' -d 'One JSON object per line, with the record\'s body and hashes.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" follow' -l 'follow' -d 'Keep printing records as they are committed (from now on, or after --after), until interrupted.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" after' -l 'after' -d 'Only records after this id: resumes a --follow where it stopped.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" csv' -l 'csv' -d 'CSV with a header line.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" ledger' -l 'ledger' -d 'Read this ledger file directly instead of asking the broker.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'sqlite\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" store-dsn-file' -l 'store-dsn-file' -d 'Read the PostgreSQL control store this DSN file names directly instead of asking the broker.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit log" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" reveal' -l 'reveal' -d 'Open the sealed values with the auditor key (recorded in the ledger first).'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" key' -l 'key' -d 'The auditor\'s private key file (from \'audit keygen\').' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" reason' -l 'reason' -d 'Why the values are revealed (recorded).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" passphrase-file' -l 'passphrase-file' -d 'Read the key\'s passphrase from the first line of this file.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" json' -l 'json' -d 'One JSON object per line.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" ledger' -l 'ledger' -d 'Read this ledger file directly instead of asking the broker.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'sqlite\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" store-dsn-file' -l 'store-dsn-file' -d 'Read the PostgreSQL control store this DSN file names directly instead of asking the broker.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit replay" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit trace" since' -l 'since' -d 'How far back to look.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit trace" target' -l 'target' -d 'Only this target.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit trace" by' -l 'by' -d 'One line per identity (the default), session or job (its correlation id, else the command it ran).' -rfka 'identity session job'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit trace" json' -l 'json' -d 'One JSON object per line.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit trace" ledger' -l 'ledger' -d 'Read this ledger file directly instead of asking the broker.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'sqlite\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit trace" store-dsn-file' -l 'store-dsn-file' -d 'Read the PostgreSQL control store this DSN file names directly instead of asking the broker.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit trace" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit trace" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit trace" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit trace" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit report" since' -l 'since' -d 'The start of the period.' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit report" format' -l 'format' -d 'markdown, html or json.' -rfka 'markdown html json'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit report" ledger' -l 'ledger' -d 'Read this ledger file directly instead of asking the broker.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'sqlite\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit report" store-dsn-file' -l 'store-dsn-file' -d 'Read the PostgreSQL control store this DSN file names directly instead of asking the broker.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit report" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit report" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit report" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit report" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit verify" json' -l 'json' -d 'Print one JSON object.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit verify" ledger' -l 'ledger' -d 'Read this ledger file directly instead of asking the broker.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'sqlite\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit verify" store-dsn-file' -l 'store-dsn-file' -d 'Read the PostgreSQL control store this DSN file names directly instead of asking the broker.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit verify" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit verify" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit verify" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit verify" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit checkpoint" token-file' -l 'token-file' -d 'Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit checkpoint" broker' -l 'broker' -d 'The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, else the broker you signed in to last, else this machine\'s).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit checkpoint" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit checkpoint" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit keygen" out' -l 'out' -d 'Where to write the private key.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit keygen" passphrase-file' -l 'passphrase-file' -d 'Read the passphrase from the first line of this file.' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit keygen" no-passphrase' -l 'no-passphrase' -d 'Write the private key without a passphrase.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit keygen" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl audit keygen" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl store" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl store" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl store" -eq 1' -fa 'init' -d 'Create the control store\'s tables (or check them), as their owner, and grant the brokers\' role what it uses.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_positional "hoopctl store" -eq 1' -fa 'migrate' -d 'Copy a broker\'s SQLite ledger into an empty control store, keeping every id and hash.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl store init" dsn-file' -l 'dsn-file' -d 'A file holding the control store\'s libpq connection string (mode 0600).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl store init" broker-role' -l 'broker-role' -d 'The role the brokers connect as (it must exist; LOGIN and nothing more).' -rfka ''
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl store init" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl store init" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl store migrate" dsn-file' -l 'dsn-file' -d 'A file holding the control store\'s libpq connection string (mode 0600).' -rF
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl store migrate" from' -l 'from' -d 'The SQLite ledger to copy.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'sqlite\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl store migrate" version' -l 'version' -d 'Show the version.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl store migrate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hoopctl' -n '__hoopctl_should_offer_completions_for_flags_or_options "hoopctl help" version' -l 'version' -d 'Show the version.'
