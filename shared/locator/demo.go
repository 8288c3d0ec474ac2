package locator

import "github.com/lensflow/lensflow/shared/domain/lens"

// DemoClinics returns fictional clinic listings for the local stack and
// tests: 37 clinics in London, Manchester, Edinburgh, Dublin, Sydney,
// Melbourne, Auckland, Toronto, Boston, Chicago and San Francisco. Names and
// street numbers are invented; phone numbers are from ranges reserved for
// drama and fiction (Ofcom 020 7946 0xxx, 0161 496 0xxx, 0131 496 0xxx;
// ACMA 02/03 5550 xxxx; North American 555-01xx) or plainly 555 numbers
// where a country reserves none. Four clinics have not opted in to the
// locator. demo-north and demo-south are the clinics of the local stack's
// development tokens (both in London).
//
// Each call returns a fresh slice with geohashes set.
func DemoClinics() []Clinic {
	const (
		r = lens.RGP
		o = lens.OrthoK
		s = lens.Scleral
	)
	cs := []Clinic{
		// London
		{ID: "demo-north", Name: "North Demo Contact Lens Clinic", Address: "14 Parkway", City: "London", Postcode: "NW1 7AA", Country: "GB", Phone: "+44 20 7946 0101", Lat: 51.5390, Lng: -0.1426, LensTypes: []lens.Type{s, o, r}, OptedIn: true},
		{ID: "demo-south", Name: "South Demo Eye Care", Address: "221 Brixton Hill", City: "London", Postcode: "SW2 1RR", Country: "GB", Phone: "+44 20 7946 0102", Lat: 51.4613, Lng: -0.1156, LensTypes: []lens.Type{o, r}, OptedIn: true},
		{ID: "marylebone-scleral", Name: "Marylebone Scleral Centre", Address: "3 Welbeck Mews", City: "London", Postcode: "W1G 9XX", Country: "GB", Phone: "+44 20 7946 0103", Lat: 51.5203, Lng: -0.1487, LensTypes: []lens.Type{s}, OptedIn: true},
		{ID: "islington-optometry", Name: "Upper Street Optometry", Address: "88 Upper Street", City: "London", Postcode: "N1 0NP", Country: "GB", Phone: "+44 20 7946 0104", Lat: 51.5362, Lng: -0.1033, LensTypes: []lens.Type{r, o}, OptedIn: true},
		{ID: "greenwich-vision", Name: "Greenwich Vision Studio", Address: "9 Nelson Road", City: "London", Postcode: "SE10 9JB", Country: "GB", Phone: "+44 20 7946 0105", Lat: 51.4826, Lng: -0.0077, LensTypes: []lens.Type{r}, OptedIn: true},
		{ID: "hammersmith-eyes", Name: "Hammersmith Eye Practice", Address: "40 King Street", City: "London", Postcode: "W6 0QA", Country: "GB", Phone: "+44 20 7946 0106", Lat: 51.4927, Lng: -0.2248, LensTypes: []lens.Type{s, r}, OptedIn: false},
		{ID: "stratford-lens-lab", Name: "Stratford Lens Rooms", Address: "2 Broadway Arcade", City: "London", Postcode: "E15 1NG", Country: "GB", Phone: "+44 20 7946 0107", Lat: 51.5413, Lng: -0.0030, LensTypes: []lens.Type{o}, OptedIn: true},
		// Manchester
		{ID: "manchester-central", Name: "Piccadilly Contact Lens Clinic", Address: "17 Portland Street", City: "Manchester", Postcode: "M1 3BE", Country: "GB", Phone: "+44 161 496 0101", Lat: 53.4794, Lng: -2.2453, LensTypes: []lens.Type{s, o, r}, OptedIn: true},
		{ID: "didsbury-optical", Name: "Didsbury Village Optical", Address: "752 Wilmslow Road", City: "Manchester", Postcode: "M20 2DW", Country: "GB", Phone: "+44 161 496 0102", Lat: 53.4168, Lng: -2.2310, LensTypes: []lens.Type{o, r}, OptedIn: true},
		{ID: "salford-quays-eyes", Name: "Quayside Eye Clinic", Address: "5 The Quays", City: "Salford", Postcode: "M50 3AZ", Country: "GB", Phone: "+44 161 496 0103", Lat: 53.4715, Lng: -2.2960, LensTypes: []lens.Type{r}, OptedIn: false},
		// Edinburgh
		{ID: "edinburgh-new-town", Name: "New Town Contact Lens Practice", Address: "61 George Street", City: "Edinburgh", Postcode: "EH2 2JG", Country: "GB", Phone: "+44 131 496 0101", Lat: 55.9533, Lng: -3.1983, LensTypes: []lens.Type{s, r}, OptedIn: true},
		{ID: "leith-optometrists", Name: "Shore Optometrists", Address: "24 The Shore", City: "Edinburgh", Postcode: "EH6 6QN", Country: "GB", Phone: "+44 131 496 0102", Lat: 55.9756, Lng: -3.1724, LensTypes: []lens.Type{o}, OptedIn: true},
		{ID: "morningside-vision", Name: "Morningside Vision", Address: "310 Morningside Road", City: "Edinburgh", Postcode: "EH10 4QH", Country: "GB", Phone: "+44 131 496 0103", Lat: 55.9290, Lng: -3.2100, LensTypes: []lens.Type{r, o, s}, OptedIn: true},
		// Dublin
		{ID: "dublin-grafton", Name: "Grafton Contact Lens Centre", Address: "45 Dawson Street", City: "Dublin", Postcode: "D02 XY00", Country: "IE", Phone: "+353 1 555 0101", Lat: 53.3398, Lng: -6.2583, LensTypes: []lens.Type{s, o}, OptedIn: true},
		{ID: "rathmines-eye-care", Name: "Rathmines Eye Care", Address: "120 Lower Rathmines Road", City: "Dublin", Postcode: "D06 XY00", Country: "IE", Phone: "+353 1 555 0102", Lat: 53.3225, Lng: -6.2650, LensTypes: []lens.Type{r}, OptedIn: true},
		{ID: "drumcondra-optical", Name: "Drumcondra Optical", Address: "8 Drumcondra Road Upper", City: "Dublin", Postcode: "D09 XY00", Country: "IE", Phone: "+353 1 555 0103", Lat: 53.3700, Lng: -6.2590, LensTypes: []lens.Type{o, r}, OptedIn: true},
		// Sydney
		{ID: "sydney-cbd-lenses", Name: "Macquarie Street Contact Lenses", Address: "Level 3, 155 Macquarie Street", City: "Sydney", Postcode: "NSW 2000", Country: "AU", Phone: "+61 2 5550 0101", Lat: -33.8688, Lng: 151.2093, LensTypes: []lens.Type{s, o, r}, OptedIn: true},
		{ID: "bondi-optometry", Name: "Bondi Junction Optometry", Address: "12 Spring Street", City: "Bondi Junction", Postcode: "NSW 2022", Country: "AU", Phone: "+61 2 5550 0102", Lat: -33.8915, Lng: 151.2500, LensTypes: []lens.Type{o}, OptedIn: true},
		{ID: "parramatta-eyes", Name: "Parramatta Eye Studio", Address: "30 Church Street", City: "Parramatta", Postcode: "NSW 2150", Country: "AU", Phone: "+61 2 5550 0103", Lat: -33.8150, Lng: 151.0011, LensTypes: []lens.Type{r, s}, OptedIn: true},
		{ID: "chatswood-vision", Name: "Chatswood Vision Centre", Address: "401 Victoria Avenue", City: "Chatswood", Postcode: "NSW 2067", Country: "AU", Phone: "+61 2 5550 0104", Lat: -33.7969, Lng: 151.1803, LensTypes: []lens.Type{o, r}, OptedIn: false},
		// Melbourne
		{ID: "melbourne-collins", Name: "Collins Street Contact Lens Clinic", Address: "Suite 6, 250 Collins Street", City: "Melbourne", Postcode: "VIC 3000", Country: "AU", Phone: "+61 3 5550 0101", Lat: -37.8156, Lng: 144.9650, LensTypes: []lens.Type{s, o}, OptedIn: true},
		{ID: "richmond-optical", Name: "Swan Street Optical", Address: "98 Swan Street", City: "Richmond", Postcode: "VIC 3121", Country: "AU", Phone: "+61 3 5550 0102", Lat: -37.8255, Lng: 144.9980, LensTypes: []lens.Type{r}, OptedIn: true},
		{ID: "st-kilda-eyes", Name: "St Kilda Eye Practice", Address: "17 Acland Street", City: "St Kilda", Postcode: "VIC 3182", Country: "AU", Phone: "+61 3 5550 0103", Lat: -37.8676, Lng: 144.9809, LensTypes: []lens.Type{o, r, s}, OptedIn: true},
		// Auckland
		{ID: "auckland-queen-st", Name: "Queen Street Contact Lenses", Address: "Level 2, 220 Queen Street", City: "Auckland", Postcode: "1010", Country: "NZ", Phone: "+64 9 555 0101", Lat: -36.8485, Lng: 174.7633, LensTypes: []lens.Type{s, r}, OptedIn: true},
		{ID: "ponsonby-optometrists", Name: "Ponsonby Optometrists", Address: "150 Ponsonby Road", City: "Auckland", Postcode: "1011", Country: "NZ", Phone: "+64 9 555 0102", Lat: -36.8570, Lng: 174.7440, LensTypes: []lens.Type{o}, OptedIn: true},
		{ID: "takapuna-vision", Name: "Takapuna Vision", Address: "5 Hurstmere Road", City: "Auckland", Postcode: "0622", Country: "NZ", Phone: "+64 9 555 0103", Lat: -36.7870, Lng: 174.7730, LensTypes: []lens.Type{r, o}, OptedIn: true},
		// Toronto
		{ID: "toronto-king-west", Name: "King West Contact Lens Clinic", Address: "300 King Street West", City: "Toronto", Postcode: "ON M5V 1J2", Country: "CA", Phone: "+1 416-555-0101", Lat: 43.6455, Lng: -79.3900, LensTypes: []lens.Type{s, o, r}, OptedIn: true},
		{ID: "yorkville-eye-care", Name: "Yorkville Eye Care", Address: "77 Avenue Road", City: "Toronto", Postcode: "ON M5R 3R8", Country: "CA", Phone: "+1 416-555-0102", Lat: 43.6708, Lng: -79.3945, LensTypes: []lens.Type{o}, OptedIn: true},
		{ID: "north-york-optometry", Name: "Yonge & Sheppard Optometry", Address: "4800 Yonge Street", City: "Toronto", Postcode: "ON M2N 6A1", Country: "CA", Phone: "+1 416-555-0103", Lat: 43.7615, Lng: -79.4111, LensTypes: []lens.Type{r, s}, OptedIn: true},
		// Boston
		{ID: "boston-back-bay", Name: "Back Bay Specialty Contact Lens", Address: "500 Boylston Street, Suite 1200", City: "Boston", Postcode: "MA 02116", Country: "US", Phone: "+1 617-555-0101", Lat: 42.3503, Lng: -71.0760, LensTypes: []lens.Type{s, r}, OptedIn: true},
		{ID: "cambridge-kendall-eyes", Name: "Kendall Square Eye Associates", Address: "1 Broadway Place", City: "Cambridge", Postcode: "MA 02142", Country: "US", Phone: "+1 617-555-0102", Lat: 42.3626, Lng: -71.0843, LensTypes: []lens.Type{o, r}, OptedIn: true},
		// Chicago
		{ID: "chicago-loop-lenses", Name: "Loop Contact Lens Institute", Address: "25 East Washington Street, Suite 900", City: "Chicago", Postcode: "IL 60602", Country: "US", Phone: "+1 312-555-0101", Lat: 41.8830, Lng: -87.6270, LensTypes: []lens.Type{s, o, r}, OptedIn: true},
		{ID: "lincoln-park-vision", Name: "Lincoln Park Vision", Address: "2400 North Clark Street", City: "Chicago", Postcode: "IL 60614", Country: "US", Phone: "+1 773-555-0102", Lat: 41.9250, Lng: -87.6400, LensTypes: []lens.Type{o}, OptedIn: true},
		{ID: "evanston-eye-center", Name: "Evanston Eye Center", Address: "1600 Sherman Avenue", City: "Evanston", Postcode: "IL 60201", Country: "US", Phone: "+1 847-555-0103", Lat: 42.0470, Lng: -87.6820, LensTypes: []lens.Type{r, s}, OptedIn: false},
		// San Francisco Bay Area
		{ID: "sf-union-square", Name: "Union Square Contact Lens Center", Address: "450 Sutter Street, Suite 1400", City: "San Francisco", Postcode: "CA 94108", Country: "US", Phone: "+1 415-555-0101", Lat: 37.7895, Lng: -122.4080, LensTypes: []lens.Type{s, o, r}, OptedIn: true},
		{ID: "mission-optometry", Name: "Valencia Street Optometry", Address: "900 Valencia Street", City: "San Francisco", Postcode: "CA 94110", Country: "US", Phone: "+1 415-555-0102", Lat: 37.7570, Lng: -122.4212, LensTypes: []lens.Type{o, r}, OptedIn: true},
		{ID: "oakland-uptown-eyes", Name: "Uptown Oakland Eye Care", Address: "1900 Broadway", City: "Oakland", Postcode: "CA 94612", Country: "US", Phone: "+1 510-555-0103", Lat: 37.8080, Lng: -122.2690, LensTypes: []lens.Type{r, s}, OptedIn: true},
	}
	for i := range cs {
		cs[i] = cs[i].Normalize()
	}
	return cs
}
