import Foundation
import HoopPostgres

/// The sandbox's `shop` database: customers with realistic-looking personal data (the kind
/// masking exists for) and their orders. Deterministic: the same rows on every machine.
public struct DemoData {
    public struct Customer: Equatable {
        public var id: Int
        public var name: String
        public var email: String
        public var phone: String
        public var ssn: String
        public var cardNumber: String
        public var notes: String?
        public var createdAt: String
    }

    public struct Order: Equatable {
        public var id: Int
        public var customerID: Int
        public var amount: String
        public var createdAt: String
    }

    public let customers: [Customer]
    public let orders: [Order]

    public static let schema = """
        CREATE TABLE public.customers (
            id          integer PRIMARY KEY,
            name        text NOT NULL,
            email       text NOT NULL,
            phone       text,
            ssn         text,
            card_number text,
            notes       text,
            created_at  timestamptz NOT NULL
        );
        CREATE TABLE public.orders (
            id          integer PRIMARY KEY,
            customer_id integer NOT NULL REFERENCES public.customers (id),
            amount      numeric(10,2) NOT NULL,
            created_at  timestamptz NOT NULL
        );
        CREATE INDEX orders_customer_id ON public.orders (customer_id);
        -- The application's own role owns its tables (not the superuser): reviewed DDL runs as it.
        DO $$BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shop_owner') THEN
                CREATE ROLE shop_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
            END IF;
        END$$;
        ALTER TABLE public.customers OWNER TO shop_owner;
        ALTER TABLE public.orders OWNER TO shop_owner;
        GRANT CREATE ON SCHEMA public TO shop_owner;
        """

    public init(customers count: Int = 1000, seed: UInt64 = 0x686F_6F70) {
        var random = SplitMix64(seed: seed)
        var customers: [Customer] = []
        var emails = Set<String>()
        var orders: [Order] = []
        let start = 1_672_531_200 // 2023-01-01T00:00:00Z
        for id in 1...count {
            let first = Self.firstNames[random.below(Self.firstNames.count)]
            let last = Self.lastNames[random.below(Self.lastNames.count)]
            let domain = Self.domains[random.below(Self.domains.count)]
            var email: String
            switch random.below(3) {
            case 0: email = "\(first.lowercased()).\(last.lowercased())@\(domain)"
            case 1: email = "\(first.lowercased().prefix(1))\(last.lowercased())\(random.below(90) + 10)@\(domain)"
            default: email = "\(last.lowercased()).\(first.lowercased())\(id)@\(domain)"
            }
            if !emails.insert(email).inserted {
                email = "\(first.lowercased()).\(last.lowercased()).\(id)@\(domain)"
                emails.insert(email)
            }
            let area = Self.areaCodes[random.below(Self.areaCodes.count)]
            let phone = String(format: "+1-%ld-555-%04ld", area, random.below(10000))
            let ssn = String(format: "%03ld-%02ld-%04ld", 100 + random.below(565), 1 + random.below(99), 1 + random.below(9999))
            let card = Self.cardNumber(&random)
            let created = start + random.below(60 * 60 * 24 * 700)
            var notes: String?
            switch random.below(10) {
            case 0, 1:
                let other = "\(Self.firstNames[random.below(Self.firstNames.count)].lowercased())@\(Self.domains[random.below(Self.domains.count)])"
                notes = "Asked us to send invoices to \(other) from now on."
            case 2:
                let spare = Self.cardNumber(&random)
                notes = "Paid by phone with card \(Self.grouped(spare)), exp 0\(1 + random.below(9))/2\(7 + random.below(3))."
            case 3:
                // Other addresses and numbers than the masked columns hold: free-text PII is the
                // in-flight detectors' job, and the masking tests look for the columns' own values.
                let work = "\(first.lowercased().prefix(1)).\(last.lowercased())@\(Self.workDomains[random.below(Self.workDomains.count)])"
                notes = "Prefers contact at work (\(work)); office line (\(area)) 555-\(String(format: "%04ld", random.below(10000))), ext. \(100 + random.below(900))."
            case 4, 5:
                notes = Self.plainNotes[random.below(Self.plainNotes.count)]
            default:
                notes = nil
            }
            customers.append(Customer(id: id, name: "\(first) \(last)", email: email, phone: phone, ssn: ssn,
                                      cardNumber: card, notes: notes, createdAt: Self.timestamp(created)))
            for _ in 0..<random.below(6) {
                let cents = 500 + random.below(49_500)
                orders.append(Order(id: orders.count + 1, customerID: id,
                                    amount: String(format: "%ld.%02ld", cents / 100, cents % 100),
                                    createdAt: Self.timestamp(created + random.below(60 * 60 * 24 * 120))))
            }
        }
        self.customers = customers
        self.orders = orders
    }

    /// Creates the tables and loads every row, in one transaction. Values go as parameters.
    public func load(into connection: PostgresConnection) throws {
        try connection.transaction { connection in
            try connection.executeScript(Self.schema)
            for batch in stride(from: 0, to: customers.count, by: 100) {
                let rows = customers[batch..<min(batch + 100, customers.count)]
                try insert(connection, table: "public.customers",
                           columns: ["id", "name", "email", "phone", "ssn", "card_number", "notes", "created_at"],
                           rows: rows.map { [String($0.id), $0.name, $0.email, $0.phone, $0.ssn, $0.cardNumber, $0.notes, $0.createdAt] })
            }
            for batch in stride(from: 0, to: orders.count, by: 200) {
                let rows = orders[batch..<min(batch + 200, orders.count)]
                try insert(connection, table: "public.orders", columns: ["id", "customer_id", "amount", "created_at"],
                           rows: rows.map { [String($0.id), String($0.customerID), $0.amount, $0.createdAt] })
            }
            try connection.execute("ANALYZE public.customers")
            try connection.execute("ANALYZE public.orders")
        }
    }

    private func insert(_ connection: PostgresConnection, table: String, columns: [String], rows: [[String?]]) throws {
        var placeholders: [String] = []
        var values: [String?] = []
        for row in rows {
            let start = values.count
            placeholders.append("(" + (1...row.count).map { "$\(start + $0)" }.joined(separator: ", ") + ")")
            values.append(contentsOf: row)
        }
        try connection.execute("INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES \(placeholders.joined(separator: ", "))", values)
    }

    // MARK: Realistic values

    /// A card number with a real issuer prefix and a valid Luhn check digit.
    static func cardNumber(_ random: inout SplitMix64) -> String {
        let (prefix, length): (String, Int) = [("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)][random.below(5)]
        var digits = prefix
        while digits.count < length - 1 { digits.append(Character(String(random.below(10)))) }
        return digits + String(luhnCheckDigit(digits))
    }

    static func luhnCheckDigit(_ digits: String) -> Int {
        var sum = 0
        for (index, character) in digits.reversed().enumerated() {
            var value = character.wholeNumberValue!
            if index % 2 == 0 { value *= 2; if value > 9 { value -= 9 } }
            sum += value
        }
        return (10 - sum % 10) % 10
    }

    static func grouped(_ digits: String) -> String {
        stride(from: 0, to: digits.count, by: 4).map { offset in
            let start = digits.index(digits.startIndex, offsetBy: offset)
            return String(digits[start..<(digits.index(start, offsetBy: 4, limitedBy: digits.endIndex) ?? digits.endIndex)])
        }.joined(separator: " ")
    }

    static func timestamp(_ seconds: Int) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    static let firstNames = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
                             "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
                             "Sarah", "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty",
                             "Mark", "Sandra", "Priya", "Ashley", "Wei", "Kimberly", "Ahmed", "Emily", "Kenji",
                             "Donna", "Olga", "Michelle", "Diego", "Fatima", "Lukas", "Amara", "Sven", "Chloe"]
    static let lastNames = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
                            "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
                            "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
                            "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
                            "Nguyen", "Patel", "Kowalski", "Schmidt", "Okafor", "Tanaka", "Larsen", "Rossi"]
    static let domains = ["gmail.com", "yahoo.com", "outlook.com", "proton.me", "icloud.com", "fastmail.com",
                          "example.org", "acme-corp.com", "globex.io", "initech.net"]
    static let workDomains = ["corp.example.com", "mail.example.net", "staff.example.org"]
    static let areaCodes = [212, 312, 415, 503, 617, 646, 702, 713, 801, 917]
    static let plainNotes = ["VIP customer since the spring sale.", "Prefers delivery after 5pm.",
                             "Requested paper invoices.", "Returned one item in good condition.",
                             "Interested in the loyalty programme.", "Address verified by phone."]
}

/// A small, fast, deterministic generator (Steele, Lea and Flood's SplitMix64).
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
