#!/bin/bash

__hoopctl_cursor_index_in_current_word() {
    local remaining="${COMP_LINE}"

    local word
    for word in "${COMP_WORDS[@]::COMP_CWORD}"; do
        remaining="${remaining##*([[:space:]])"${word}"*([[:space:]])}"
    done

    local -ir index="$((COMP_POINT - ${#COMP_LINE} + ${#remaining}))"
    if [[ "${index}" -le 0 ]]; then
        printf 0
    else
        printf %s "${index}"
    fi
}

# positional arguments:
#
# - 1: the current (sub)command's count of positional arguments
#
# required variables:
#
# - repeating_flags: the repeating flags that the current (sub)command can accept
# - non_repeating_flags: the non-repeating flags that the current (sub)command can accept
# - repeating_options: the repeating options that the current (sub)command can accept
# - non_repeating_options: the non-repeating options that the current (sub)command can accept
# - positional_number: value ignored
# - unparsed_words: unparsed words from the current command line
#
# modified variables:
#
# - non_repeating_flags: remove flags for this (sub)command that are already on the command line
# - non_repeating_options: remove options for this (sub)command that are already on the command line
# - positional_number: set to the current positional number
# - unparsed_words: remove all flags, options, and option values for this (sub)command
__hoopctl_offer_flags_options() {
    local -ir positional_count="${1}"
    positional_number=0

    local was_flag_option_terminator_seen=false
    local is_parsing_option_value=false

    local -ar unparsed_word_indices=("${!unparsed_words[@]}")
    local -i word_index
    for word_index in "${unparsed_word_indices[@]}"; do
        if "${is_parsing_option_value}"; then
            # This word is an option value:
            # Reset marker for next word iff not currently the last word
            [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]] && is_parsing_option_value=false
            unset "unparsed_words[${word_index}]"
            # Do not process this word as a flag or an option
            continue
        fi

        local word="${unparsed_words["${word_index}"]}"
        if ! "${was_flag_option_terminator_seen}"; then
            case "${word}" in
            --)
                unset "unparsed_words[${word_index}]"
                # by itself -- is a flag/option terminator, but if it is the last word, it is the start of a completion
                if [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]]; then
                    was_flag_option_terminator_seen=true
                fi
                continue
                ;;
            -*)
                # ${word} is a flag or an option
                # If ${word} is an option, mark that the next word to be parsed is an option value
                local option
                for option in "${repeating_options[@]}" "${non_repeating_options[@]}"; do
                    [[ "${word}" = "${option}" ]] && is_parsing_option_value=true && break
                done

                # Remove ${word} from ${non_repeating_flags} or ${non_repeating_options} so it isn't offered again
                local not_found=true
                local -i index
                for index in "${!non_repeating_flags[@]}"; do
                    if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                        unset "non_repeating_flags[${index}]"
                        non_repeating_flags=("${non_repeating_flags[@]}")
                        not_found=false
                        break
                    fi
                done
                if "${not_found}"; then
                    for index in "${!non_repeating_flags[@]}"; do
                        if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                            unset "non_repeating_flags[${index}]"
                            non_repeating_flags=("${non_repeating_flags[@]}")
                            break
                        fi
                    done
                fi
                unset "unparsed_words[${word_index}]"
                continue
                ;;
            esac
        fi

        # ${word} is neither a flag, nor an option, nor an option value
        if [[ "${positional_number}" -lt "${positional_count}" || "${positional_count}" -lt 0 ]]; then
            # ${word} is a positional
            ((positional_number++))
            unset "unparsed_words[${word_index}]"
        else
            if [[ -z "${word}" ]]; then
                # Could be completing a flag, option, or subcommand
                positional_number=-1
            else
                # ${word} is a subcommand or invalid, so stop processing this (sub)command
                positional_number=-2
            fi
            break
        fi
    done

    unparsed_words=("${unparsed_words[@]}")

    if\
        ! "${was_flag_option_terminator_seen}"\
        && ! "${is_parsing_option_value}"\
        && [[ ("${cur}" = -* && "${positional_number}" -ge 0) || "${positional_number}" -eq -1 ]]
    then
        COMPREPLY+=($(compgen -W "${repeating_flags[*]} ${non_repeating_flags[*]} ${repeating_options[*]} ${non_repeating_options[*]}" -- "${cur}"))
    fi
}

__hoopctl_add_completions() {
    local completion
    while IFS='' read -r completion; do
        COMPREPLY+=("${completion}")
    done < <(IFS=$'\n' compgen "${@}" -- "${cur}")
}

__hoopctl_custom_complete() {
    if [[ -n "${cur}" || -z ${COMP_WORDS[${COMP_CWORD}]} || "${COMP_LINE:${COMP_POINT}:1}" != ' ' ]]; then
        local -ar words=("${COMP_WORDS[@]}")
    else
        local -ar words=("${COMP_WORDS[@]::${COMP_CWORD}}" '' "${COMP_WORDS[@]:${COMP_CWORD}}")
    fi

    "${COMP_WORDS[0]}" "${@}" "${words[@]}"
}

_hoopctl() {
    local state
    state="$(shopt -p;shopt -po)"
    trap "${state//$'\n'/;}" RETURN
    shopt -s extglob
    set +o history +o posix

    local -xr SAP_SHELL=bash
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(IFS='.';printf %s "${BASH_VERSINFO[*]}")"
    local -r SAP_SHELL_VERSION

    local -r cur="${2}"
    local -r prev="${3}"

    local -i positional_number
    local -a unparsed_words=("${COMP_WORDS[@]:1:${COMP_CWORD}}")

    local -a repeating_flags=()
    local -a non_repeating_flags=(--version -h --help)
    local -a repeating_options=()
    local -a non_repeating_options=()
    __hoopctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    sandbox|serve|exec|connect|sessions|revoke|request|requests|approve|deny|token|whoami|login|logout|mcp|target|policy|audit|store|help)
        # Offer subcommand argument completions
        "_hoopctl_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'sandbox serve exec connect sessions revoke request requests approve deny token whoami login logout mcp target policy audit store help' -- "${cur}"))
        ;;
    esac
}

_hoopctl_sandbox() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    up|down|status|env|store)
        # Offer subcommand argument completions
        "_hoopctl_sandbox_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'up down status env store' -- "${cur}"))
        ;;
    esac
}

_hoopctl_sandbox_up() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0
}

_hoopctl_sandbox_down() {
    repeating_flags=()
    non_repeating_flags=(--purge --version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0
}

_hoopctl_sandbox_status() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0
}

_hoopctl_sandbox_env() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0
}

_hoopctl_sandbox_store() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--name)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--name')
        return
        ;;
    esac
}

_hoopctl_serve() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--config --proxy-port --ledger-sync --store-dsn-file --listen --proxy-listen --tls-cert --tls-key --public-host --log-level)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--config')
        __hoopctl_add_completions -o plusdirs -fX '!*.@(yaml|yml)'
        return
        ;;
    '--proxy-port')
        return
        ;;
    '--ledger-sync')
        __hoopctl_add_completions -W 'full'$'\n''batched'
        return
        ;;
    '--store-dsn-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--listen')
        return
        ;;
    '--proxy-listen')
        return
        ;;
    '--tls-cert')
        __hoopctl_add_completions -f
        return
        ;;
    '--tls-key')
        __hoopctl_add_completions -f
        return
        ;;
    '--public-host')
        return
        ;;
    '--log-level')
        return
        ;;
    esac
}

_hoopctl_exec() {
    repeating_flags=()
    non_repeating_flags=(--no-wait --quiet --pass-token --version -h --help)
    repeating_options=()
    non_repeating_options=(--role --reason --ttl --request --wait --correlation-id --token-file --broker)
    __hoopctl_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--role')
        return
        ;;
    '--reason')
        return
        ;;
    '--ttl')
        return
        ;;
    '--request')
        return
        ;;
    '--wait')
        return
        ;;
    '--correlation-id')
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_connect() {
    repeating_flags=()
    non_repeating_flags=(--no-wait --quiet --pass-token --version -h --help)
    repeating_options=()
    non_repeating_options=(--role --reason --ttl --request --wait --correlation-id --token-file --broker --client)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--role')
        return
        ;;
    '--reason')
        return
        ;;
    '--ttl')
        return
        ;;
    '--request')
        return
        ;;
    '--wait')
        return
        ;;
    '--correlation-id')
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    '--client')
        return
        ;;
    esac
}

_hoopctl_sessions() {
    repeating_flags=()
    non_repeating_flags=(--active --json --version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_revoke() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_request() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--role --reason --ttl --token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--role')
        return
        ;;
    '--reason')
        return
        ;;
    '--ttl')
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_requests() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    list|show)
        # Offer subcommand argument completions
        "_hoopctl_requests_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'list show' -- "${cur}"))
        ;;
    esac
}

_hoopctl_requests_list() {
    repeating_flags=()
    non_repeating_flags=(--pending --mine --all --json --version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_requests_show() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_approve() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--comment --token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--comment')
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_deny() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--reason --token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--reason')
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_token() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    issue|revoke|list)
        # Offer subcommand argument completions
        "_hoopctl_token_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'issue revoke list' -- "${cur}"))
        ;;
    esac
}

_hoopctl_token_issue() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--subject --ttl --token-file --broker)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--subject')
        return
        ;;
    '--ttl')
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_token_revoke() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_token_list() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_whoami() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_login() {
    repeating_flags=()
    non_repeating_flags=(--browser --version -h --help)
    repeating_options=()
    non_repeating_options=(--ca-file)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--ca-file')
        __hoopctl_add_completions -f
        return
        ;;
    esac
}

_hoopctl_logout() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 1
}

_hoopctl_mcp() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--role --reason --ttl --correlation-id --token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--role')
        return
        ;;
    '--reason')
        return
        ;;
    '--ttl')
        return
        ;;
    '--correlation-id')
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_target() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    init|doctor)
        # Offer subcommand argument completions
        "_hoopctl_target_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'init doctor' -- "${cur}"))
        ;;
    esac
}

_hoopctl_target_init() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_target_doctor() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_policy() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    check|explain|reload)
        # Offer subcommand argument completions
        "_hoopctl_policy_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'check explain reload' -- "${cur}"))
        ;;
    esac
}

_hoopctl_policy_check() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 1

    # Offer positional completions
    case "${positional_number}" in
    1)
        __hoopctl_add_completions -o plusdirs -fX '!*.@(yaml|yml)'
        return
        ;;
    esac
}

_hoopctl_policy_explain() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--target --sql --file --user --role --policy)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--target')
        return
        ;;
    '--sql')
        return
        ;;
    '--file')
        __hoopctl_add_completions -f
        return
        ;;
    '--user')
        return
        ;;
    '--role')
        return
        ;;
    '--policy')
        __hoopctl_add_completions -o plusdirs -fX '!*.@(yaml|yml)'
        return
        ;;
    esac
}

_hoopctl_policy_reload() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_audit() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    log|replay|trace|report|verify|checkpoint|keygen)
        # Offer subcommand argument completions
        "_hoopctl_audit_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'log replay trace report verify checkpoint keygen' -- "${cur}"))
        ;;
    esac
}

_hoopctl_audit_log() {
    repeating_flags=()
    non_repeating_flags=(--json --follow --csv --version -h --help)
    repeating_options=(--kind)
    non_repeating_options=(--since --until --user --target --session --correlation-id --limit --after --ledger --store-dsn-file --token-file --broker)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--since')
        return
        ;;
    '--until')
        return
        ;;
    '--user')
        return
        ;;
    '--target')
        return
        ;;
    '--session')
        return
        ;;
    '--correlation-id')
        return
        ;;
    '--kind')
        __hoopctl_add_completions -W 'identity'$'\n''session'$'\n''credential'$'\n''request'$'\n''decision'$'\n''statement'$'\n''result'$'\n''event'
        return
        ;;
    '--limit')
        return
        ;;
    '--after')
        return
        ;;
    '--ledger')
        __hoopctl_add_completions -o plusdirs -fX '!*.@(sqlite)'
        return
        ;;
    '--store-dsn-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_audit_replay() {
    repeating_flags=()
    non_repeating_flags=(--reveal --json --version -h --help)
    repeating_options=()
    non_repeating_options=(--key --reason --passphrase-file --ledger --store-dsn-file --token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--key')
        __hoopctl_add_completions -f
        return
        ;;
    '--reason')
        return
        ;;
    '--passphrase-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--ledger')
        __hoopctl_add_completions -o plusdirs -fX '!*.@(sqlite)'
        return
        ;;
    '--store-dsn-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_audit_trace() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--since --target --by --ledger --store-dsn-file --token-file --broker)
    __hoopctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--since')
        return
        ;;
    '--target')
        return
        ;;
    '--by')
        __hoopctl_add_completions -W 'identity'$'\n''session'$'\n''job'
        return
        ;;
    '--ledger')
        __hoopctl_add_completions -o plusdirs -fX '!*.@(sqlite)'
        return
        ;;
    '--store-dsn-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_audit_report() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--since --format --ledger --store-dsn-file --token-file --broker)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--since')
        return
        ;;
    '--format')
        __hoopctl_add_completions -W 'markdown'$'\n''html'$'\n''json'
        return
        ;;
    '--ledger')
        __hoopctl_add_completions -o plusdirs -fX '!*.@(sqlite)'
        return
        ;;
    '--store-dsn-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_audit_verify() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--ledger --store-dsn-file --token-file --broker)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--ledger')
        __hoopctl_add_completions -o plusdirs -fX '!*.@(sqlite)'
        return
        ;;
    '--store-dsn-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_audit_checkpoint() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--token-file --broker)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--token-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker')
        return
        ;;
    esac
}

_hoopctl_audit_keygen() {
    repeating_flags=()
    non_repeating_flags=(--no-passphrase --version -h --help)
    repeating_options=()
    non_repeating_options=(--out --passphrase-file)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--out')
        __hoopctl_add_completions -f
        return
        ;;
    '--passphrase-file')
        __hoopctl_add_completions -f
        return
        ;;
    esac
}

_hoopctl_store() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    init|migrate)
        # Offer subcommand argument completions
        "_hoopctl_store_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'init migrate' -- "${cur}"))
        ;;
    esac
}

_hoopctl_store_init() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--dsn-file --broker-role)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--dsn-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--broker-role')
        return
        ;;
    esac
}

_hoopctl_store_migrate() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--dsn-file --from)
    __hoopctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--dsn-file')
        __hoopctl_add_completions -f
        return
        ;;
    '--from')
        __hoopctl_add_completions -o plusdirs -fX '!*.@(sqlite)'
        return
        ;;
    esac
}

_hoopctl_help() {
    repeating_flags=()
    non_repeating_flags=(--version)
    repeating_options=()
    non_repeating_options=()
    __hoopctl_offer_flags_options -1
}

complete -o filenames -F _hoopctl hoopctl
