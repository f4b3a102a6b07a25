//! The word lists behind the list-based entities (`gazetteer.rs`): lower case, a space between
//! the words of one entry.

#[rustfmt::skip]
pub(super) const STATES: &[&str] = &[
    "alabama", "alaska", "arizona", "arkansas", "california", "colorado", "connecticut", "delaware",
    "florida", "georgia", "hawaii", "idaho", "illinois", "indiana", "iowa", "kansas", "kentucky",
    "louisiana", "maine", "maryland", "massachusetts", "michigan", "minnesota", "mississippi",
    "missouri", "montana", "nebraska", "nevada", "new hampshire", "new jersey", "new mexico",
    "north carolina", "north dakota", "ohio", "oklahoma", "oregon", "pennsylvania", "rhode island",
    "south carolina", "south dakota", "tennessee", "texas", "utah", "vermont", "virginia",
    "washington", "west virginia", "wisconsin", "wyoming",
];
#[rustfmt::skip]
pub(super) const COUNTRIES: &[&str] = &[
    "afghanistan", "argentina", "australia", "austria", "bangladesh", "belgium", "brazil", "canada",
    "chile", "china", "colombia", "cuba", "denmark", "egypt", "england", "ethiopia", "finland",
    "france", "germany", "ghana", "greece", "hungary", "iceland", "india", "indonesia", "iran",
    "iraq", "ireland", "israel", "italy", "jamaica", "japan", "kenya", "korea", "mexico", "morocco",
    "nepal", "netherlands", "new zealand", "nigeria", "norway", "pakistan", "peru", "philippines",
    "poland", "portugal", "romania", "russia", "saudi arabia", "scotland", "singapore",
    "south africa", "spain", "sweden", "switzerland", "syria", "taiwan", "thailand", "turkey",
    "ukraine", "united kingdom", "united states", "uruguay", "venezuela", "vietnam", "wales",
];
#[rustfmt::skip]
pub(super) const CITIES: &[&str] = &[
    "new york", "los angeles", "chicago", "houston", "phoenix", "philadelphia", "san antonio",
    "san diego", "dallas", "san jose", "austin", "boston", "seattle", "denver", "atlanta", "miami",
    "detroit", "portland", "las vegas", "baltimore", "nashville", "san francisco", "london",
    "paris", "berlin", "madrid", "rome", "tokyo", "beijing", "shanghai", "mumbai", "delhi",
    "toronto", "vancouver", "montreal", "sydney", "melbourne", "dublin", "amsterdam", "vienna",
    "moscow", "istanbul", "cairo", "lagos", "nairobi", "mexico city", "sao paulo", "buenos aires",
    "singapore", "hong kong", "seoul", "bangkok", "manchester", "edinburgh", "springfield",
];
#[rustfmt::skip]
pub(super) const GIVEN_NAMES: &[&str] = &[
    "james", "john", "robert", "michael", "william", "david", "richard", "joseph", "thomas",
    "charles", "christopher", "daniel", "matthew", "anthony", "mark", "donald", "steven", "paul",
    "andrew", "joshua", "kenneth", "kevin", "brian", "george", "timothy", "ronald", "jason",
    "edward", "jeffrey", "ryan", "jacob", "gary", "nicholas", "eric", "jonathan", "stephen",
    "larry", "justin", "scott", "brandon", "benjamin", "samuel", "gregory", "alexander", "patrick",
    "frank", "raymond", "jack", "dennis", "jerry", "tyler", "aaron", "jose", "adam", "nathan",
    "henry", "peter", "zachary", "kyle", "noah", "ethan", "jeremy", "mary", "patricia", "jennifer",
    "linda", "elizabeth", "barbara", "susan", "jessica", "sarah", "karen", "lisa", "nancy", "betty",
    "margaret", "sandra", "ashley", "kimberly", "emily", "donna", "michelle", "carol", "amanda",
    "dorothy", "melissa", "deborah", "stephanie", "rebecca", "sharon", "laura", "cynthia",
    "kathleen", "amy", "angela", "shirley", "anna", "brenda", "pamela", "emma", "nicole", "helen",
    "samantha", "katherine", "christine", "debra", "rachel", "carolyn", "janet", "catherine",
    "maria", "heather", "diane", "ruth", "julie", "olivia", "joyce", "virginia", "victoria",
    "kelly", "lauren", "christina", "joan", "evelyn", "judith", "megan", "andrea", "cheryl",
    "hannah", "jacqueline", "martha", "gloria", "teresa", "ann", "sara", "madison", "frances",
    "kathryn", "janice", "jean", "abigail", "alice", "julia", "judy", "sophia", "grace", "denise",
    "amber", "marilyn", "beverly", "danielle", "theresa", "sophie", "jane", "natalie", "diana",
    "victor", "nadia", "mohammed", "ahmed", "ali", "wei", "yuki", "priya", "raj", "carlos", "juan",
    "luis", "miguel", "ana", "sofia", "lucas", "liam", "mia", "chloe", "zoe",
];
#[rustfmt::skip]
pub(super) const CONDITIONS: &[&str] = &[
    "diabetes", "asthma", "hypertension", "high blood pressure", "cancer", "depression", "anxiety",
    "arthritis", "migraine", "migraines", "pneumonia", "bronchitis", "influenza", "flu", "covid",
    "covid nineteen", "epilepsy", "dementia", "alzheimer's", "parkinson's", "stroke",
    "heart disease", "heart attack", "obesity", "anemia", "hepatitis", "hiv", "aids",
    "tuberculosis", "eczema", "psoriasis", "insomnia", "schizophrenia", "bipolar disorder",
    "autism", "adhd", "leukemia", "lymphoma", "sepsis", "concussion", "fracture", "headache",
    "nausea", "fever",
];
#[rustfmt::skip]
pub(super) const DRUGS: &[&str] = &[
    "ibuprofen", "acetaminophen", "paracetamol", "aspirin", "tylenol", "advil", "motrin",
    "metformin", "insulin", "lisinopril", "atorvastatin", "lipitor", "amoxicillin", "penicillin",
    "omeprazole", "prednisone", "albuterol", "levothyroxine", "amlodipine", "metoprolol",
    "losartan", "gabapentin", "sertraline", "zoloft", "prozac", "fluoxetine", "xanax", "alprazolam",
    "oxycodone", "hydrocodone", "morphine", "fentanyl", "warfarin", "heparin", "azithromycin",
    "ciprofloxacin", "naproxen", "benadryl", "zyrtec", "adderall", "ozempic", "viagra",
];
