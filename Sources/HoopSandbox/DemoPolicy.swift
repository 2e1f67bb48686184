/// The sandbox's policy file: every feature of the policy language, with the local OS user
/// as admin and reader, so the demo works without editing anything.
public enum DemoPolicy {
    public static let targetName = "sandbox"

    public static func yaml(user: String, auditorKey: String = "") -> String {
        """
        # hoopctl demo policy, written by `hoopctl sandbox up`. Edit freely: `sandbox up` keeps it.
        # Check it with `hoopctl policy check`; the README has the full reference.
        version: 1

        admins: [user:\(user)]          # may revoke anyone's session and read the audit log
        auditors: [group:security]      # may read the audit log

        groups:
          analysts: [user:\(user), user:bob, service:retrain-bot]
          dba: [user:alice, user:carol]
          security: [user:auditor]

        targets:
          \(targetName):
            admin_dsn_file: admin.dsn   # relative to this file; never put a DSN in the policy
            database: shop
            sslmode: disable            # loopback sandbox; use verify-full for real databases
            allow_masking_bypass: false # refuse sessions while `target doctor` finds a way around masking
            agents: { max_rows: 500, max_bytes: 262144 }   # what one `hoopctl mcp` query returns at most
            capture:                    # what the ledger keeps of statements' values
              values: \(auditorKey.isEmpty ? "preview" : "sealed")   # sealed: a masked preview, and the exact values sealed to the auditor
              max_value_bytes: 4096     # a longer value is kept cut, with its length and SHA-256
              auditor_keys: [\(auditorKey)]   # `hoopctl audit keygen`; the private key stays offline (the demo's: sandbox/auditor.key)
            roles:
              read:
                tables: ["public.*"]
                max_ttl: 8h
                default_ttl: 1h
                statement_timeout: 30s
                idle_in_transaction_timeout: 5m
                connection_limit: 5
                direct: false           # sessions go through the guard proxy
              write:
                tables: ["public.orders"]
                privileges: [insert, update, delete]
                max_ttl: 1h
                default_ttl: 15m
                approval:
                  from: [group:dba]
                  count: 1
                  every_group: false
                  allow_self_approval: []   # nobody approves their own request
                  request_ttl: 1h
                  approval_ttl: 30m
                  max_session: 1h
            masking:
              public.customers.email: email          # j***@example.com
              public.customers.ssn: redact
              public.customers.card_number: partial(4)
              public.customers.phone: hash           # deterministic, so joins still work
              # public.customers.notes: detect       # free text: the detectors, applied by the database
            detectors:                               # in flight, over any text value
              - email
              - credit_card
              - ssn
              - iban
              - jwt
              - api_key
              - { name: phone, strategy: partial(4) }
              - { name: employee_id, pattern: "EMP-[0-9]{6}", strategy: partial(3) }
            guardrails:
              ddl: review               # CREATE/ALTER/DROP/TRUNCATE/COMMENT
              dcl: review               # GRANT/REVOKE
              admin: deny               # VACUUM, ALTER SYSTEM, COPY ... PROGRAM, ...
              opaque: deny              # DO blocks, CALL: what the parser cannot see through
              unparseable: deny         # fail closed
              unbounded_write: review   # UPDATE/DELETE without WHERE
              privileged_functions: deny
              max_rows_per_write: 1000
              rules:
                - tables: ["public.customers"]
                  classes: [write]
                  action: review
                  reason: customer records change only with a second pair of eyes
                - functions: [pg_sleep]
                  action: deny
              approval:                 # who reviews statements; approved ones run once
                from: [group:dba]
                count: 1
                approval_ttl: 30m
                run_as: shop_owner      # reviewed DDL runs as the tables' owner

        access:
          - { who: group:analysts, target: \(targetName), roles: [read] }
          - { who: group:dba, target: \(targetName), roles: [read, write] }
          # Analysts may ask for write; group:dba approves (tokens play alice, bob and carol:
          # hoopctl token issue --subject user:alice).
          - { who: group:analysts, target: \(targetName), roles: [write] }

        notify:
          - webhook_env: HOOPCTL_WEBHOOK_URL   # e.g. a Slack incoming webhook; the URL is a secret
            events: [request.created, request.decided]

        """
    }
}
